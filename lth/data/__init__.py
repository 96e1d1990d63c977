"""MNIST datasets: the bundled `mnist-sample` and the full `mnist` (IDX folder or Keras' download)."""

from lth.data.datasets import DATASETS, DataError, Dataset, dataset_source, load_dataset

__all__ = ["DATASETS", "Dataset", "DataError", "dataset_source", "load_dataset"]
