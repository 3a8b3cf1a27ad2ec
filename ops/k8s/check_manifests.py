#!/usr/bin/env python3
"""Fleet invariants of rendered TernFlux manifests, and the KEDA ScaledObject's structure.

usage: check_manifests.py RENDERED.yaml [--keda-crd keda.sh_scaledobjects.yaml]

Checks what a Kubernetes schema cannot: the ScaledObject targets the worker Deployment, has
1 <= minReplicaCount <= maxReplicaCount <= the job topic's partitions (annotation
ternflux.dev/job-topic-partitions), a kafka trigger on ternflux.jobs for the group the worker joins, with
numeric lag thresholds and only trigger metadata keys KEDA's kafka scaler knows; the Deployment's
terminationGracePeriodSeconds covers preStop + --shutdown-grace + the consumer close; probes use the
metrics port. With --keda-crd the ScaledObject is also validated against the CRD's openAPIV3Schema.
Exit status 1 with one line per problem, naming the resource and the field.
"""
import re
import sys

import yaml

# Trigger metadata keys of KEDA's kafka scaler (pkg/scalers/kafka_scaler.go, `keda:"name=..."` tags
# with order=triggerMetadata).
KAFKA_TRIGGER_KEYS = {
    "bootstrapServers", "consumerGroup", "topic", "partitionLimitation", "lagThreshold",
    "activationLagThreshold", "offsetResetPolicy", "allowIdleConsumers", "excludePersistentLag",
    "scaleToZeroOnInvalidOffset", "limitToPartitionsWithLag", "ensureEvenDistributionOfPartitions",
    "fullMetadata", "version", "tls", "unsafeSsl", "sasl", "saslTokenProvider", "awsRegion",
}
CONSUMER_CLOSE_SECONDS = 10  # KafkaConsumer.close bound (docs/kafka.md)
WORKER_GROUP_DEFAULT = "ternflux-workers"


def load(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d]


def name_of(doc):
    return f"{doc['kind']}/{doc['metadata']['name']}"


def flag_value(args, flag, default):
    if flag in args:
        i = args.index(flag)
        if i + 1 < len(args):
            return args[i + 1]
    return default


def check_deployment(dep, problems):
    n = name_of(dep)
    spec = dep["spec"]["template"]["spec"]
    workers = [c for c in spec["containers"] if c["name"] == "worker"]
    if not workers:
        problems.append(f"{n}: spec.template.spec.containers: no container named worker")
        return None
    c = workers[0]
    args = c.get("args", [])
    if not args or args[0] != "worker":
        problems.append(f"{n}: containers[worker].args: must start with the subcommand worker (got {args})")
    grace = float(flag_value(args, "--shutdown-grace", "60"))
    pre_stop = 0.0
    cmd = c.get("lifecycle", {}).get("preStop", {}).get("exec", {}).get("command", [])
    if cmd[:1] == ["/bin/sleep"] and len(cmd) == 2:
        pre_stop = float(cmd[1])
    elif cmd:
        problems.append(f"{n}: containers[worker].lifecycle.preStop.exec.command: expected /bin/sleep N (got {cmd})")
    tgps = spec.get("terminationGracePeriodSeconds", 30)
    need = pre_stop + grace + CONSUMER_CLOSE_SECONDS
    if tgps <= need:
        problems.append(f"{n}: spec.template.spec.terminationGracePeriodSeconds: {tgps} s does not cover preStop "
                        f"{pre_stop:g} s + --shutdown-grace {grace:g} s + consumer close {CONSUMER_CLOSE_SECONDS} s = {need:g} s")
    ports = {p.get("name"): p["containerPort"] for p in c.get("ports", [])}
    if ports.get("metrics") != 9464:
        problems.append(f"{n}: containers[worker].ports: needs a port named metrics on 9464 (got {ports})")
    for probe, path in (("livenessProbe", "/healthz"), ("readinessProbe", "/readyz"), ("startupProbe", "/healthz")):
        get = c.get(probe, {}).get("httpGet")
        if not get:
            problems.append(f"{n}: containers[worker].{probe}: missing (expected httpGet {path})")
        elif get.get("path") != path or get.get("port") not in ("metrics", 9464):
            problems.append(f"{n}: containers[worker].{probe}.httpGet: expected {path} on the metrics port (got {get})")
    if "resources" not in c or "requests" not in c["resources"]:
        problems.append(f"{n}: containers[worker].resources.requests: missing")
    return flag_value(args, "--group", WORKER_GROUP_DEFAULT)


def check_scaled_object(so, deployments, groups, problems):
    n = name_of(so)
    spec = so.get("spec", {})
    target = spec.get("scaleTargetRef", {}).get("name")
    if target not in deployments:
        problems.append(f"{n}: spec.scaleTargetRef.name: {target!r} is not a Deployment in these manifests")
    lo, hi = spec.get("minReplicaCount"), spec.get("maxReplicaCount")
    ann = so.get("metadata", {}).get("annotations", {}).get("ternflux.dev/job-topic-partitions")
    if not isinstance(lo, int) or lo < 1:
        problems.append(f"{n}: spec.minReplicaCount: must be an integer >= 1 (got {lo!r})")
    if not isinstance(hi, int) or (isinstance(lo, int) and hi < lo):
        problems.append(f"{n}: spec.maxReplicaCount: must be an integer >= minReplicaCount (got {hi!r})")
    if ann is None or not str(ann).isdigit():
        problems.append(f"{n}: metadata.annotations[ternflux.dev/job-topic-partitions]: missing or not a number ({ann!r})")
    elif isinstance(hi, int) and hi > int(ann):
        problems.append(f"{n}: spec.maxReplicaCount: {hi} exceeds the {ann} partitions of ternflux.jobs")
    kafka = [t for t in spec.get("triggers", []) if t.get("type") == "kafka"]
    if len(kafka) != 1:
        problems.append(f"{n}: spec.triggers: expected exactly one kafka trigger (got {len(kafka)})")
        return
    md = kafka[0].get("metadata", {})
    for key in sorted(set(md) - KAFKA_TRIGGER_KEYS):
        problems.append(f"{n}: spec.triggers[kafka].metadata.{key}: not a kafka scaler metadata key")
    for key in ("bootstrapServers", "consumerGroup", "topic", "lagThreshold"):
        if key not in md:
            problems.append(f"{n}: spec.triggers[kafka].metadata.{key}: missing")
    if md.get("topic") not in (None, "ternflux.jobs"):
        problems.append(f"{n}: spec.triggers[kafka].metadata.topic: the workers consume ternflux.jobs (got {md.get('topic')!r})")
    if "consumerGroup" in md and md["consumerGroup"] not in groups:
        problems.append(f"{n}: spec.triggers[kafka].metadata.consumerGroup: {md['consumerGroup']!r} is not the workers' group {sorted(groups)}")
    for key in ("lagThreshold", "activationLagThreshold"):
        if key in md and not (isinstance(md[key], str) and re.fullmatch(r"[1-9][0-9]*|0", md[key])):
            problems.append(f"{n}: spec.triggers[kafka].metadata.{key}: must be a quoted non-negative integer (got {md[key]!r})")
    if md.get("offsetResetPolicy") != "earliest":
        problems.append(f"{n}: spec.triggers[kafka].metadata.offsetResetPolicy: must be earliest, as the worker's auto.offset.reset")
    for key in ("allowIdleConsumers", "excludePersistentLag", "scaleToZeroOnInvalidOffset"):
        if key in md and md[key] not in ("true", "false"):
            problems.append(f"{n}: spec.triggers[kafka].metadata.{key}: must be \"true\" or \"false\" (got {md[key]!r})")


def check_against_crd(so, crd_path, problems):
    import jsonschema

    crd = [d for d in load(crd_path) if d.get("kind") == "CustomResourceDefinition"]
    if not crd:
        problems.append(f"{crd_path}: no CustomResourceDefinition in it")
        return
    api_version = so["apiVersion"].split("/")[-1]
    versions = [v for v in crd[0]["spec"]["versions"] if v["name"] == api_version]
    if not versions:
        problems.append(f"{crd_path}: no version {api_version} of {crd[0]['metadata']['name']}")
        return
    schema = versions[0]["schema"]["openAPIV3Schema"]
    validator = jsonschema.Draft4Validator(schema)
    for err in sorted(validator.iter_errors(so), key=lambda e: list(e.path)):
        path = ".".join(str(p) for p in err.path) or "(root)"
        problems.append(f"{name_of(so)}: {path}: {err.message} (KEDA CRD schema)")


def main(argv):
    if len(argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    rendered = argv[1]
    crd = argv[argv.index("--keda-crd") + 1] if "--keda-crd" in argv else None
    docs = load(rendered)
    problems = []
    deployments = {}
    groups = set()
    for d in docs:
        if d.get("kind") == "Deployment":
            deployments[d["metadata"]["name"]] = d
            g = check_deployment(d, problems)
            if g:
                groups.add(g)
    sos = [d for d in docs if d.get("kind") == "ScaledObject"]
    if not sos:
        problems.append(f"{rendered}: no ScaledObject")
    for so in sos:
        check_scaled_object(so, deployments, groups, problems)
        if crd:
            check_against_crd(so, crd, problems)
    for p in problems:
        print(f"{rendered}: {p}")
    if not problems:
        print(f"{rendered}: fleet invariants hold ({len(deployments)} Deployment, {len(sos)} ScaledObject"
              + (", ScaledObject valid against the KEDA CRD schema" if crd else "") + ")")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
