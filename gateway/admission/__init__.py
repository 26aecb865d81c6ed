"""Admission control: whether a new drive may begin, from the drain, the drive limit and the
process's measured load.

* :mod:`gateway.admission.gate`: the decision (:class:`~gateway.admission.gate.AdmissionGate`),
  and the counts it keeps of refusals and set-ups;
* :mod:`gateway.admission.gauge`: the measuring (:class:`~gateway.admission.gauge.LoadGauge`,
  pure: fed samples, no clock);
* :mod:`gateway.admission.sampler`: the asyncio shell that feeds the gauge every 100 ms.

Nothing here imports the service: the app builds a gate and hands it its live drives.
"""
