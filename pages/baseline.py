from dashboard.experiment_page import render

render("baseline", "Dense baseline",
       "Train the unpruned network: the reference every pruned arm is compared with.")
