"""The study's steps, one module each, every one ``run(context, results) -> its result``.

A step reads the run's :class:`~hybridflow.study.context.StudyContext` and the results of
the steps before it (:class:`~hybridflow.study.results.StudyResults`), writes its tables
under ``tables/`` and returns its own frozen result. Steps never import the runner, which
holds their order (:data:`hybridflow.study.runner.STEPS`).
"""
