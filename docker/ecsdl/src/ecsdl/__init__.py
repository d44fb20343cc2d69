"""ecsdl: the ecs-dl image's MXNet tools, shared by the notebooks and the ECS tasks.

- `ecsdl.cli`: the `ecsdl COMMAND` entry point (classify, train, import-tflite)
- `ecsdl.classify`: `classify` command and `classify_images()` (cat or not, top-K labels)
- `ecsdl.train`: `train` command and `train_model()` (MNIST or the offline digits data)
- `ecsdl.tflite_import`: `ecsdl import-tflite`, a quantized TFLite classifier -> MXNet checkpoint
- `ecsdl.model`: load MXNet checkpoints (local or s3://), float16-stored params included
- `ecsdl.preprocess`: image decoding, central crop, bilinear resize, NCHW batches
- `ecsdl.sources`: read bytes from a local path, an http(s):// URL or an s3:// URI
"""

__version__ = "0.1.0"


class EcsdlError(Exception):
    """An error the user can cause (missing file, unreadable image, unknown model): one line."""
