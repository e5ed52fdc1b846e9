"""The spill: a deep ingest backlog drained into dataset import jobs, and the stream resumed (docs/bulk.md, "The
spill").

The scheduled check (:mod:`spill.trigger`) starts the Step Functions workflow (:mod:`spill.workflow` names its
states) whose steps are :func:`spill.handler.step`: pause the event source mapping (:mod:`spill.mapping`), drain
the queue into CSV parts (:mod:`spill.drain`), keep each record's newest change across parts
(:mod:`spill.compact`), import (:mod:`spill.imports`), resume. ``local/step_functions.py`` drives the same steps.
"""
