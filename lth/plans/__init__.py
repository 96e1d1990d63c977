"""What each experiment trains, read from its settings without TensorFlow: one module per experiment, each a
`Plan` (lth.plans.base). The registry is `lth.hparams.EXPERIMENTS`."""
