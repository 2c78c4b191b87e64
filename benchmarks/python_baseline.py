#!/usr/bin/env python3
# Copyright 2026 The unidist-cpp Authors.
"""The Python baseline of //benchmarks:compare: multiprocessing.Pool, and Dask for the partitions.

//benchmarks:compare runs this with the machine's python3 and passes the sizes and
repetition counts of its own workloads (benchmarks/workloads.h) as flags, so both sides
run the same thing. The groups startup, tasks and large use the standard library only
(multiprocessing.Pool). Left out of them to keep the whole comparison short: submitting
from two threads, 1 GiB objects (about 13 s a repetition), and the CPU-bound scaling
workload (//benchmarks:compare measures the machine's own parallelism with forked C++
processes instead).

The partitions group runs the partitioned workload (h in workloads.h) three ways, with
numpy arrays: multiprocessing.Pool, Dask's threaded scheduler (dask.delayed) and Dask
distributed's LocalCluster (worker processes, one thread each). It needs numpy, dask and
distributed (Debian: python3-numpy, python3-dask, python3-distributed, which ./bazelw
installs for /usr/bin/python3). When the interpreter running this script lacks them (a
pyenv python3 first on PATH, say) and the one --partitions_python names (default
/usr/bin/python3) has them, the group runs in a child process under that one; otherwise
each variant that cannot run says why under "notes", and the rest of the baseline runs
as usual. A variant that would end past
its time budget (--partitions_budget_s) runs fewer repetitions, and says so there too.

Prints one JSON object on stdout, every metric a list with one sample per repetition:

    {"python_version": "3.11.7", "start_method": "fork",
     "samples": {"latency_us": [271.4, ...], "throughput_tasks_per_s": [...], ...},
     "notes": {"partitions_dask_threaded_s": "not run: No module named 'dask' (...)",
               "partitions_pool_s": "3 of 5 repetitions (time budget)"},
     "partitions_python": "/usr/bin/python3 3.11.2, numpy 1.24.2, dask 2022.12.1",
     "errors": ["partitions_dask_distributed_s: AssertionError(...)"]}

"errors" lists failures that did not stop the rest (a variant that raised); the exit code
is then still 0, and //benchmarks:compare reports them as errors.

Progress goes to stderr. The metric names and units are those of workloads.h. Every
process it starts (Pool workers, the LocalCluster's nannies and workers, a child
interpreter) is ended before it exits, whether the workload succeeded or not; only
multiprocessing's resource tracker, which the LocalCluster's start method starts,
outlives it by a moment: it exits when it sees this process gone.
"""

import argparse
import importlib
import json
import logging
import math
import multiprocessing
import os
import subprocess
import sys
import time
import zlib

# Where Debian's python3-numpy, python3-dask and python3-distributed are importable.
DEBIAN_PYTHON = "/usr/bin/python3"


def noop(x):
    return x


def increment(x):
    return x + 1


def checksum(data):
    # Reads every byte; crc32 is the fastest full read the standard library offers here.
    return zlib.crc32(data)


def make_bytes(size):
    return b"\x5a" * size


# The partitioned workload (h): y = 2x + 1 into a new array, the element-wise sum of two
# arrays into a new one, and the sum of one. Module-level, so that Pool and Dask
# distributed can send them to their workers.
def transform_partition(x):
    y = x * 2.0
    y += 1.0
    return y


def add_partitions(a, b):
    return a + b


def sum_partition(x):
    return float(x.sum())


def size_name(size):
    if size % (1 << 30) == 0:
        return "%dGiB" % (size >> 30)
    if size % (1 << 20) == 0:
        return "%dMiB" % (size >> 20)
    return "%dB" % size


class Recorder:
    def __init__(self):
        self.samples = {}
        self.notes = {}  # metric -> why it has no samples, or fewer than asked
        self.errors = []  # failures that did not stop the other workloads
        self.partitions_python = ""

    def add(self, metric, value):
        self.samples.setdefault(metric, []).append(value)

    def note(self, metric, note):
        self.notes[metric] = note
        print("[python]  %-36s %s" % (metric, note), file=sys.stderr, flush=True)

    def log(self, *metrics):
        for metric in metrics:
            values = sorted(self.samples.get(metric, []))
            if values:
                print("[python]  %-36s %12.4g  (%.4g .. %.4g)" %
                      (metric, values[len(values) // 2], values[0], values[-1]),
                      file=sys.stderr, flush=True)


def memory_mib(pid):
    """(VmRSS, Private_Clean + Private_Dirty) of `pid`, in MiB."""
    def kb(path, field):
        with open(path) as f:
            for line in f:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        raise ValueError("no %s in %s" % (field, path))
    rss = kb("/proc/%d/status" % pid, "VmRSS")
    rollup = "/proc/%d/smaps_rollup" % pid
    private = kb(rollup, "Private_Clean") + kb(rollup, "Private_Dirty")
    return rss / 1024.0, private / 1024.0


def run_trivial(pool, count):
    results = [pool.apply_async(noop, (i,)) for i in range(count)]
    values = [r.get() for r in results]
    assert values[-1] == count - 1


def startup_group(args, rec):
    for _ in range(args.short_reps):
        start = time.perf_counter()
        pool = multiprocessing.Pool(args.workers)
        assert pool.apply_async(noop, (1,)).get() == 1
        rec.add("init_first_result_ms", (time.perf_counter() - start) * 1e3)
        run_trivial(pool, 100)
        driver_rss, _ = memory_mib(os.getpid())
        workers = [memory_mib(p.pid) for p in pool._pool]  # the Pool's worker processes
        rec.add("driver_rss_MiB", driver_rss)
        rec.add("worker_rss_MiB", max(rss for rss, _ in workers))
        rec.add("worker_private_MiB", max(private for _, private in workers))
        start = time.perf_counter()
        pool.close()
        pool.join()
        rec.add("shutdown_ms", (time.perf_counter() - start) * 1e3)
    rec.log("init_first_result_ms", "shutdown_ms", "driver_rss_MiB", "worker_rss_MiB",
            "worker_private_MiB")


def tasks_group(args, rec):
    with multiprocessing.Pool(args.workers) as pool:
        run_trivial(pool, 1000)  # warm-up
        for i in range(200):
            pool.apply_async(noop, (i,)).get()
        for _ in range(args.short_reps):
            start = time.perf_counter()
            for i in range(args.latency_round_trips):
                assert pool.apply_async(noop, (i,)).get() == i
            rec.add("latency_us", (time.perf_counter() - start) * 1e6 / args.latency_round_trips)
        rec.log("latency_us")

        n = args.throughput_tasks
        for _ in range(args.reps):
            start = time.perf_counter()
            run_trivial(pool, n)
            rec.add("throughput_tasks_per_s", n / (time.perf_counter() - start))
        rec.log("throughput_tasks_per_s")

        # map's own default, written out: about four chunks per worker process.
        chunksize = math.ceil(n / (4 * args.workers))
        for _ in range(args.map_reps):
            start = time.perf_counter()
            values = pool.map(noop, range(n), chunksize=chunksize)
            rec.add("map_tasks_per_s", n / (time.perf_counter() - start))
            assert values[-1] == n - 1
        rec.log("map_tasks_per_s")

        # A Pool has no refs: each link waits for the previous result and sends it back.
        for _ in range(args.reps):
            start = time.perf_counter()
            value = 0
            for _ in range(args.chain_length):
                value = pool.apply_async(increment, (value,)).get()
            rec.add("chain_us_per_task", (time.perf_counter() - start) * 1e6 / args.chain_length)
            assert value == args.chain_length
        rec.log("chain_us_per_task")


def large_group(args, rec):
    with multiprocessing.Pool(args.workers) as pool:
        run_trivial(pool, 100)  # warm-up
        for size in args.put_bytes:
            data = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
            expected = zlib.crc32(data)
            metric = "put_task_%s_GBps" % size_name(size)
            for _ in range(args.short_reps if size <= (1 << 20) else args.reps):
                start = time.perf_counter()
                value = pool.apply_async(checksum, (data,)).get()
                rec.add(metric, size / (time.perf_counter() - start) / 1e9)
                assert value == expected
            rec.log(metric)
            del data
        metric = "get_%s_GBps" % size_name(args.get_bytes)
        for _ in range(args.reps):
            start = time.perf_counter()
            value = pool.apply_async(make_bytes, (args.get_bytes,)).get()
            rec.add(metric, args.get_bytes / (time.perf_counter() - start) / 1e9)
            assert len(value) == args.get_bytes
            del value
        rec.log(metric)


PARTITIONS_METRICS = {
    "pool": "partitions_pool_s",
    "dask_threaded": "partitions_dask_threaded_s",
    "dask_distributed": "partitions_dask_distributed_s",
}
PARTITIONS_MODULES = {  # what each variant imports
    "pool": ["numpy"],
    "dask_threaded": ["numpy", "dask"],
    "dask_distributed": ["numpy", "dask", "distributed"],
}


def missing_module(names):
    """The first of `names` this interpreter cannot import, with the error; else None."""
    for name in names:
        try:
            importlib.import_module(name)
        except ImportError as e:
            return "%s (%s)" % (e, sys.executable)
    return None


def make_partitions(args):
    """The partitions in the driver's memory: x[i] = i % 1000, i counted over all of them."""
    import numpy as np
    n = args.partition_bytes // 8
    return [(np.arange(p * n, (p + 1) * n, dtype=np.int64) % 1000).astype(np.float64)
            for p in range(args.partitions)]


def expected_sum(args):
    """The sum of 2x + 1 over all elements (see PartitionsExpectedSum in workloads.h)."""
    elements = args.partitions * (args.partition_bytes // 8)
    return float(elements // 1000 * 1000000 + (elements % 1000) ** 2)


def tree_sum(items, add_pairs):
    """Sums `items` pairwise, level by level, down to one: add_pairs(list of pairs) gives
    one item per pair; an odd item out goes up a level as it is."""
    while len(items) > 1:
        pairs = [(items[i], items[i + 1]) for i in range(0, len(items) - 1, 2)]
        summed = add_pairs(pairs)
        if len(items) % 2 == 1:
            summed.append(items[-1])
        items = summed
    return items[0]


def run_repetitions(args, rec, metric, deadline, run_once):
    """Up to args.reps timed calls of run_once(), each returning the workload's sum; a
    repetition that would end after `deadline` (time.monotonic()) is not started."""
    expected = expected_sum(args)
    slowest = 0.0
    for rep in range(args.reps):
        if time.monotonic() + slowest > deadline:
            rec.note(metric, "not run: time budget" if rep == 0 else
                     "%d of %d repetitions (time budget)" % (rep, args.reps))
            break
        start = time.perf_counter()
        value = run_once()
        seconds = time.perf_counter() - start
        assert value == expected, "%s: sum %r, expected %r" % (metric, value, expected)
        rec.add(metric, seconds)
        slowest = max(slowest, seconds)
    rec.log(metric)


def partitions_pool(args, rec, partitions, deadline):
    # A Pool holds no objects: each step sends its arrays to the workers and gets the new
    # ones back. The last partition is back in the driver anyway, so the driver sums it.
    with multiprocessing.Pool(args.workers) as pool:
        run_trivial(pool, 100)  # warm-up

        def run_once():
            transformed = pool.map(transform_partition, partitions, chunksize=1)
            last = tree_sum(transformed,
                            lambda pairs: pool.starmap(add_partitions, pairs, chunksize=1))
            return sum_partition(last)

        run_repetitions(args, rec, PARTITIONS_METRICS["pool"], deadline, run_once)


def partitions_dask_threaded(args, rec, partitions, deadline):
    import dask
    from dask import delayed

    # Not pure (the default): the keys are random, so that dask does not hash the arrays.
    def run_once():
        transformed = [delayed(transform_partition)(x) for x in partitions]
        last = tree_sum(transformed,
                        lambda pairs: [delayed(add_partitions)(a, b) for a, b in pairs])
        (value,) = dask.compute(delayed(sum_partition)(last), scheduler="threads",
                                num_workers=args.workers)
        return value

    run_repetitions(args, rec, PARTITIONS_METRICS["dask_threaded"], deadline, run_once)


def partitions_dask_distributed(args, rec, partitions, deadline):
    from distributed import Client, LocalCluster

    # Started before the clock, as unidist::Init and the Pool are; scatter moves the
    # partitions from the driver to the workers (hash=False: no hashing of the arrays).
    cluster = None
    client = None
    try:
        cluster = LocalCluster(n_workers=args.workers, threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=logging.ERROR)
        client = Client(cluster)

        def run_once():
            scattered = client.scatter(partitions, hash=False)
            transformed = [client.submit(transform_partition, x, pure=False) for x in scattered]
            del scattered
            last = tree_sum(transformed, lambda pairs: [
                client.submit(add_partitions, a, b, pure=False) for a, b in pairs])
            return client.submit(sum_partition, last, pure=False).result()

        run_repetitions(args, rec, PARTITIONS_METRICS["dask_distributed"], deadline, run_once)
    finally:
        if client is not None:
            client.close()
        if cluster is not None:
            cluster.close()


def partitions_in_child(args, rec, python):
    """Runs the partitions group under `python`, merging what it reports into `rec`."""
    command = [python, os.path.abspath(__file__), "--groups=partitions"] + [
        "--%s=%s" % (flag, getattr(args, flag)) for flag in
        ("workers", "reps", "partitions", "partition_bytes", "partitions_budget_s",
         "partitions_python")]
    print("[python]  partitions: %s; running the group under %s" %
          (missing_module(["numpy", "dask", "distributed"]), python),
          file=sys.stderr, flush=True)
    # No timeout here: the child's own budget ends the group in time, and the child stays
    # in this process group, which //benchmarks:compare kills whole if it overruns.
    child = subprocess.run(command, stdout=subprocess.PIPE, check=False)
    try:
        report = json.loads(child.stdout)
    except ValueError:
        report = None
    if child.returncode != 0 or report is None:
        for metric in PARTITIONS_METRICS.values():
            rec.note(metric, "not run: %s failed (exit %d)" % (python, child.returncode))
        rec.errors.append("the partitions group under %s failed (exit %d)" %
                          (python, child.returncode))
        return
    rec.samples.update(report["samples"])
    rec.notes.update(report.get("notes", {}))
    rec.errors.extend(report.get("errors", []))
    rec.partitions_python = report.get("partitions_python", "")


def partitions_group(args, rec):
    needed = PARTITIONS_MODULES["dask_distributed"]
    other = args.partitions_python
    if (missing_module(needed) is not None and other and os.path.exists(other)
            and os.path.realpath(sys.executable) != os.path.realpath(other)
            and subprocess.run([other, "-c", "import " + ", ".join(needed)],
                               stderr=subprocess.DEVNULL, check=False).returncode == 0):
        partitions_in_child(args, rec, other)
        return
    missing = missing_module(["numpy"])
    if missing is not None:
        for metric in PARTITIONS_METRICS.values():
            rec.note(metric, "not run: " + missing)
        return
    import numpy
    versions = ["%s %s" % (sys.executable, sys.version.split()[0]), "numpy " + numpy.__version__]
    deadline = time.monotonic() + args.partitions_budget_s
    partitions = make_partitions(args)
    variants = [("pool", partitions_pool), ("dask_threaded", partitions_dask_threaded),
                ("dask_distributed", partitions_dask_distributed)]
    for variant, run in variants:
        metric = PARTITIONS_METRICS[variant]
        missing = missing_module(PARTITIONS_MODULES[variant])
        if missing is not None:
            rec.note(metric, "not run: " + missing)
            continue
        try:
            run(args, rec, partitions, deadline)
        except Exception as e:  # a wrong sum, a dask error: an error, and the next variant
            rec.note(metric, "failed: %s" % type(e).__name__)
            rec.errors.append("%s: %r" % (metric, e))
    for module in ("dask", "distributed"):
        if module in sys.modules:
            versions.append("%s %s" % (module, sys.modules[module].__version__))
    rec.partitions_python = ", ".join(versions)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--short_reps", type=int, default=10)
    parser.add_argument("--map_reps", type=int, default=30)
    parser.add_argument("--latency_round_trips", type=int, default=2000)
    parser.add_argument("--throughput_tasks", type=int, default=100000)
    parser.add_argument("--chain_length", type=int, default=10000)
    parser.add_argument("--put_bytes", default="1048576,104857600",
                        help="comma-separated sizes in bytes")
    parser.add_argument("--get_bytes", type=int, default=104857600)
    parser.add_argument("--partitions", type=int, default=32)
    parser.add_argument("--partition_bytes", type=int, default=64 << 20)
    parser.add_argument("--partitions_budget_s", type=float, default=300,
                        help="the partitions group starts no repetition that would end later")
    parser.add_argument("--partitions_python", default=DEBIAN_PYTHON,
                        help="the interpreter for the partitions group when this one lacks "
                        "numpy, dask or distributed; '' for none")
    parser.add_argument("--groups", default="startup,tasks,large,partitions",
                        help="comma-separated groups to run")
    args = parser.parse_args()
    args.put_bytes = [int(s) for s in args.put_bytes.split(",") if s]

    multiprocessing.set_start_method("fork")  # the Linux default before Python 3.14
    rec = Recorder()
    groups = {"startup": startup_group, "tasks": tasks_group, "large": large_group,
              "partitions": partitions_group}
    for name in args.groups.split(","):
        start = time.perf_counter()
        groups[name](args, rec)
        print("[python]  group %s: %.1f s" % (name, time.perf_counter() - start),
              file=sys.stderr, flush=True)
    json.dump({"python_version": sys.version.split()[0],
               "start_method": multiprocessing.get_start_method(),
               "samples": rec.samples, "notes": rec.notes, "errors": rec.errors,
               "partitions_python": rec.partitions_python}, sys.stdout)
    print()


if __name__ == "__main__":
    main()
