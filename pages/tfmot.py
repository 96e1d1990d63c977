from dashboard.experiment_page import render

render("tfmot", "tfmot gradual pruning (the original study)",
       "tensorflow-model-optimization prunes during training to the target density (the pruned network); "
       "its mask is then retrained from the initial weights (lottery ticket) and from a fresh "
       "initialisation (random reinit).")
