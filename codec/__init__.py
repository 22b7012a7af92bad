"""avfr's codec package: the model, priors, audio features, bitstream, media codecs, training."""

import os

# MediaPipe (TFLite + glog) prints info lines on stderr for every graph it builds; a codec's
# stderr is for the user's errors. Set before mediapipe is first imported; users can override.
os.environ.setdefault("GLOG_minloglevel", "2")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
