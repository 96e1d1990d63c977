from dashboard.experiment_page import render

render("oneshot", "Pruning methods: prune once, by any criterion",
       "Score every weight with a criterion (at initialization: random, magnitude, SNIP, GraSP, SynFlow; after a "
       "dense training: magnitude, movement, ...), keep the highest scores, train the masked network from its "
       "initial weights. Sanity checks of each mask: the layerwise shuffle, a fresh initialization, the inverted "
       "scores. Results on the same density axis as iterative pruning: the Compare page.")
