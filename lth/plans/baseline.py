"""The dense baseline: the network trained once from theta0."""

from lth.plans.base import Plan


class BaselinePlan(Plan):
    name = "baseline"
    title = "dense baseline"
    page = "baseline"
    page_title = "Baseline"
    heading = "Dense baseline"
    intro = "Train the unpruned network: the reference every pruned arm is compared with."
    icon = ":material/show_chart:"
    trained_by = "lth.experiments:Baseline"
