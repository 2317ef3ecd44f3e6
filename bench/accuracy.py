"""The default digits search's test accuracy beside a scikit-learn SVC on the same split.

    python bench/accuracy.py

Target: the search reaches at least 0.985 test accuracy.
"""

import tempfile
import time
from pathlib import Path

from _common import machine, search, test_accuracy


def svc_accuracy() -> tuple[float, float]:
    from sklearn.svm import SVC

    from trainables.loaders import load_digits
    d = load_digits()
    flat = lambda x: x[..., 0].reshape(len(x), -1) / 255.0  # noqa: E731 (the grey channel)
    start = time.perf_counter()
    svc = SVC(gamma="scale").fit(flat(d.x_train), d.y_train)
    return float((svc.predict(flat(d.x_test)) == d.y_test).mean()), time.perf_counter() - start


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        wall, folder = search(Path(tmp), "default", "--space", "basenet", "--dataset", "digits")
        ours = test_accuracy(folder)
    svc, svc_wall = svc_accuracy()
    print(f"machine: {machine()}")
    print(f"default search (python run_search.py --space basenet --dataset digits): test accuracy "
          f"{ours:.4f} in {wall:.0f} s (target >= 0.985)")
    print(f"SVC (RBF, gamma=scale) on the same split: test accuracy {svc:.4f} in {svc_wall:.1f} s")


if __name__ == "__main__":
    main()
