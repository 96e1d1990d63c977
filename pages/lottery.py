from dashboard.experiment_page import render

render("lottery")
