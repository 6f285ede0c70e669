"""One module per component (kubernetes-mixin's ``alerts/*.libsonnet``); each publishes ``recordings(k)`` and
``alerts(k)`` for a site (``lookout.monitoring.catalog.context.Ctx``), composed in order by
``lookout.monitoring.catalog.build``."""
