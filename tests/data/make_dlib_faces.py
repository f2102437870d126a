"""Records dlib's 68 points of real photos into dlib_faces.json (not run by the tests; see README.md).

    python3 -m venv /tmp/vdlib && /tmp/vdlib/bin/pip install dlib-bin face-recognition-models numpy pillow \
        matplotlib scikit-image
    /tmp/vdlib/bin/python tests/data/make_dlib_faces.py > tests/data/dlib_faces.json

Each photo also mirrored (left and right swap) and turned 20 degrees (head roll), so the tests can check sides
and roll on real points too."""

import json

import dlib
import face_recognition_models
import numpy as np
from matplotlib import cbook
from PIL import Image
from skimage import data

PHOTOS = {
    "neutral": lambda: np.asarray(Image.open(cbook.get_sample_data("grace_hopper.jpg")).convert("RGB")),
    "smile": data.astronaut,
}
VARIANTS = {
    "": lambda image: image,
    "_mirrored": lambda image: image[:, ::-1].copy(),
    "_rolled": lambda image: np.asarray(Image.fromarray(image).rotate(20, resample=Image.BILINEAR, expand=True)),
}


def main() -> None:
    detector = dlib.get_frontal_face_detector()
    predictor = dlib.shape_predictor(face_recognition_models.pose_predictor_model_location())
    faces = {}
    for name, load in PHOTOS.items():
        for suffix, variant in VARIANTS.items():
            image = variant(load())
            box = max(detector(image, 1), key=lambda b: b.area())  # the photo's subject, not a badge
            shape = predictor(image, box)
            faces[name + suffix] = {
                "size": [image.shape[1], image.shape[0]],
                "box": [box.left(), box.top(), box.right(), box.bottom()],
                "landmarks": [[p.x, p.y] for p in shape.parts()],
            }
    print(json.dumps({"made_by": f"dlib {dlib.__version__}, shape_predictor_68_face_landmarks", "faces": faces}))


if __name__ == "__main__":
    main()
