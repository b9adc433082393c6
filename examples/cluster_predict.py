"""Recognise the digit in every picture under a folder on a Dask cluster, into a CSV file.

    pip install "mnistcnn[cluster]"
    python examples/cluster_predict.py FOLDER --output results.csv [--scheduler ADDRESS]

Without ``--scheduler``, a local cluster of one worker process per CPU is started for the run.
With it, the job runs on that cluster's workers: start them with ``dask scheduler`` on one
machine and ``dask worker ADDRESS --nthreads 1`` (one per core) on each, with mnistcnn[cluster]
installed and FOLDER at the same path on every machine.

The files are found as ``mnistcnn.find_images`` walks FOLDER (sorted, subfolders too), and a
row is written for each as soon as its partition is done, in that order. A file that cannot be
read gets its error in its row, and the others go on; the exit status is then 1.
"""

from __future__ import annotations

import argparse
import csv
import sys
import time

from distributed import Client

from mnistcnn import find_images, predict_files_on_cluster


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("folder", help="pictures to recognise (walked with its subfolders)")
    parser.add_argument("--output", required=True, help="the CSV file to write")
    parser.add_argument("--scheduler", help="a Dask scheduler's address (tcp://host:8786)")
    parser.add_argument("--model", help="a saved model the workers can read (default: shipped)")
    args = parser.parse_args(argv)

    client = Client(args.scheduler) if args.scheduler else None  # None: a local cluster
    start = time.perf_counter()
    done = failed = 0
    with open(args.output, "w", newline="", encoding="utf-8") as output:
        writer = csv.writer(output)
        writer.writerow(["file", "label", "probability", "error"])
        rows = predict_files_on_cluster(find_images(args.folder), model=args.model, client=client)
        for row in rows:
            writer.writerow([row.file, row.label, row.probability, row.error])
            done += 1
            if not row.ok:
                failed += 1
                print(f"error: {row.error}", file=sys.stderr)
    elapsed = time.perf_counter() - start
    print(
        f"{done:,} files in {elapsed:.1f} s ({done / elapsed:,.0f} per second), "
        f"{failed} could not be read; rows in {args.output}"
    )
    if client is not None:
        client.close()
    return 1 if failed else 0


if __name__ == "__main__":  # the local cluster's worker processes import this file again
    sys.exit(main())
