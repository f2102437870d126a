"""Model catalogue, download, safe unzip, install / verify / remove, and Qualcomm's self-test reference case."""
