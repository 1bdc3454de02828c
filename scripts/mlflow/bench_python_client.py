"""MLflow's own Python client on the same server, for comparison with benches/mlflow_logging.rs.

    python bench_python_client.py <tracking-uri> [sync-points] [async-points]

Logs points one `mlflow.log_metric` call at a time, synchronously and with
`synchronous=False`, and prints points per second until they are on the server.
"""
import sys
import time

import mlflow

uri = sys.argv[1]
sync_points = int(sys.argv[2]) if len(sys.argv) > 2 else 300
async_points = int(sys.argv[3]) if len(sys.argv) > 3 else 2000
mlflow.set_tracking_uri(uri)
mlflow.set_experiment(f"bench-python-{int(time.time() * 1000)}")
client = mlflow.tracking.MlflowClient()


def measure(points, synchronous):
    with mlflow.start_run() as run:
        start = time.perf_counter()
        returned = 0.0
        for step in range(points):
            t = time.perf_counter()
            mlflow.log_metric("loss", 1.0 / (step + 1), step=step, synchronous=synchronous)
            returned += time.perf_counter() - t
        if not synchronous:
            mlflow.flush_async_logging()
        elapsed = time.perf_counter() - start
        got = len(client.get_metric_history(run.info.run_id, "loss"))
    assert got == points, (got, points)
    mode = "synchronous" if synchronous else "synchronous=False"
    print(
        f"python mlflow.log_metric ({mode}): {points} points in {elapsed:.2f} s = "
        f"{points / elapsed:.0f} points/s; mean return {returned / points * 1e6:.0f} us; "
        f"10,000 points would take {10000 / (points / elapsed):.1f} s"
    )


measure(sync_points, True)
measure(async_points, False)
