from dashboard.experiment_page import render

render("lottery", "Lottery ticket: iterative magnitude pruning",
       "Train, prune the smallest weights, reset the survivors to their initial values (or rewind to "
       "iteration k), retrain; with random-reinit and random-pruning controls at every pruned round.")
