"""What both ends of a live avfr call share: data-channel messages, signaling, statistics,
and the lossy-network wrapper used to test them."""
