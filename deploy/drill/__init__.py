"""The workload of the zero-downtime drill: continuous Keptn-style load against a control plane that is being
upgraded and downgraded, and the verification that nothing was lost.

`workload.Workload` is the entry point; `executors` runs as separate processes (execution-plane services).
"""
