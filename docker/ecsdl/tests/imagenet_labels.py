"""Made-up ImageNet-like label lists for the tests (the real label files are not in the image)."""

from __future__ import annotations

# ImageNet's cat classes as the label files spell them (the shared MXNet labels.txt and the
# TFLite models' imagenet_labels.txt alike): 281..285 of 1000 classes, 282..286 of 1001.
CAT_LABEL_LINES = [
    "tabby, tabby cat",
    "tiger cat",
    "Persian cat",
    "Siamese cat, Siamese",
    "Egyptian cat",
]


def imagenet_like_labels(background: bool = False) -> list[str]:
    """1000 made-up labels with the cat classes at 281..285, or 1001 with `background` first."""
    labels = [f"class {i}" for i in range(1000)]
    labels[280] = "grey fox, gray fox, Urocyon cinereoargenteus"
    labels[281:286] = CAT_LABEL_LINES
    labels[286] = "cougar, puma, catamount, mountain lion, painter, panther, Felis concolor"
    return ["background", *labels] if background else labels
