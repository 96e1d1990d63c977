"""Lottery Ticket Lab: the experiment library.

Importing `lth` or its TensorFlow-free modules (hparams, data, pruning plans, store) never imports
TensorFlow, so the dashboard stays light; modules that train import it through `lth.tf_setup`.
"""
