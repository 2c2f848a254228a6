"""`sidecar bench`: what a replica feels, and what agents get, when many agents loop on it.

A run sends one workload three ways (arms) one after another: straight to the replica with its
own driver (`direct`), through a sidecar with acceleration removed (`federated`), and through
the sidecar as configured (`accelerated`). Each arm is measured at several agent counts; the
replica's own counters say how many statements and rows it served per 1,000 agent queries.

Modules, each one concept: `workload` (the file, its parameters, its SQL per dialect),
`replica` (the database behind the sidecar: address, driver, counters), `clients` (one agent's
connection per interface), `runner` (concurrent agents and the measurement window), `arms`
(direct, a sidecar subprocess, or a running one), `report` (table, results.json, report.md),
`plots` (matplotlib) and `command` (the CLI subcommand that ties them together).
"""
