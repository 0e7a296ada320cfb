"""``bomix report`` and ``bomix dashboard``: campaigns as one HTML page, written to a file or served live.

Not to be confused with :mod:`bomix.campaign.report` (what a running campaign records) and :mod:`bomix.bench.report`
(the markdown tables of ``bomix bench``). One module per job:

* :mod:`bomix.report.data`: directories -> plain tables (read-only, through :class:`bomix.store.StoreReader`);
* :mod:`bomix.report.figures`: tables -> plotly figures;
* :mod:`bomix.report.page`: figures and tables -> the HTML page (every value read from a store escaped);
* :mod:`bomix.report.render`: the page as one self-contained file (``bomix report``);
* :mod:`bomix.report.server`: the page served locally, refreshed while campaigns run (``bomix dashboard``).

plotly is the optional extra ``report`` (``pip install 'bomix[report]'``); without it both commands fail in one line.
"""
