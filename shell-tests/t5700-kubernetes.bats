#!/usr/bin/env bats
# SPDX-License-Identifier: Apache-2.0
# t5700-kubernetes: deploy/kubernetes against the real kube-apiserver
# (v1.20.2, deploy/kube-local.sh) and the real tools the examples are for.
#
#   - the CRD (deploy/crd, the one file) is applied for real: Established,
#     short name rr, printer columns on a created object, schema enforced;
#   - every manifest (the kustomize output and the optional files) passes
#     `kubectl apply --dry-run=server`; broken copies are refused;
#   - the per-feature RBAC, applied for real in a scratch namespace, grants
#     exactly what the gateway's code paths need (kubectl auth can-i with
#     impersonation of the ServiceAccount);
#   - the ConfigMap's alertgw.yaml passes --check-config and its lighttpd
#     parameters pass `lighttpd -tt`;
#   - the container entry point runs lighttpd + workers with the ConfigMap's
#     parameters and config (only addresses and file paths replaced), and
#     the Alertmanager receiver example (real Alertmanager, bearer_token_file)
#     and a Grafana-style HMAC signature from the contact point example are
#     accepted by it;
#   - amtool check-config on the receiver example.
# Nothing runs a kubelet: the Deployment itself is only dry-run (no node, no
# image registry here).

load helpers

KDIR=${BATS_TEST_DIRNAME}/../deploy/kubernetes
CRD_FILE=${BATS_TEST_DIRNAME}/../deploy/crd/remediationrequests.yaml
SCRATCH_NS=alertgw-rbac-test

setup_file() {
    GW_TMP=$(mktemp -d "${TMPDIR:-/tmp}/alertgw-bats.XXXXXX")
    export GW_TMP
    gw_start_redis unix || return 1
    gw_start_kube || return 1
    # the container's gateway ignores signals about namespaces the cluster
    # does not have
    kube_namespaces prod || return 1
    command -v amtool >/dev/null && command -v prometheus-alertmanager >/dev/null ||
        { echo "amtool/prometheus-alertmanager missing: deploy/install-deps.sh" >&2; return 1; }
    python3 -c 'import yaml' 2>/dev/null ||
        { echo "python3-yaml missing: deploy/install-deps.sh" >&2; return 1; }
}

teardown_file() {
    local f
    for f in "${GW_TMP:-/nonexistent}"/am/pid "${GW_TMP:-/nonexistent}"/container/pid; do
        [[ -f $f ]] && gw_kill_pid "$(<"$f")" 20
    done
    # lighttpd itself, should the entry point have died without it
    f=${GW_TMP:-/nonexistent}/container/state/lighttpd.pid
    [[ -f $f ]] && gw_kill_pid "$(<"$f")" 10
    gw_teardown_stack
}

teardown() { gw_teardown_test; }

# k ARGS...: the cluster's own kubectl (v1.20.2) as admin.
k() {
    "$KUBECTL" --kubeconfig "$KUBECONFIG_ADMIN" --cache-dir "$GW_TMP/kubectl-cache" \
        --request-timeout=30s "$@"
}

# yq_get FILE PYEXPR: evaluates PYEXPR over `docs` (the YAML documents of
# FILE) and prints the result (strings as they are, others as JSON).
yq_get() {
    python3 - "$1" "$2" <<'EOF'
import json, sys, yaml
docs = [d for d in yaml.safe_load_all(open(sys.argv[1])) if d is not None]
def cm(name):
    return next(d for d in docs if d.get("kind") == "ConfigMap" and d["metadata"]["name"] == name)
v = eval(sys.argv[2], {"docs": docs, "cm": cm})
print(v if isinstance(v, str) else json.dumps(v), end="")
EOF
}

# cm_env: the generated ConfigMap alertgw-lighttpd as KEY=VALUE lines (what
# envFrom gives): lighttpd.env without its comments.
cm_env() { grep -v -e '^#' -e '^$' "$KDIR/lighttpd.env"; }

# The alertgw.yaml of the ConfigMap, extracted to a file (printed).
extract_config() {
    local out=$GW_TMP/alertgw.yaml
    cp "$KDIR/alertgw.yaml" "$out"
    echo "$out"
}

fcgi_bin() { echo "${GW_FCGI_BIN:-$GW_ROOT/fcgi/alertgw-fcgi}"; }

@test "the CRD: Established, short name rr, printer columns signal/target/phase/priority/environment/count/age" {
    run k apply -f "$CRD_FILE"
    assert_success
    run k wait --for condition=established --timeout=60s crd/remediationrequests.kubernaut.ai
    assert_success
    assert_equal "$(k get crd remediationrequests.kubernaut.ai -o jsonpath='{.spec.names.shortNames}')" '["rr"]'
    # the default columns are exactly these (the wide ones carry priority 1)
    assert_equal "$(k get crd remediationrequests.kubernaut.ai -o json | jq -r '
        [.spec.versions[0].additionalPrinterColumns[] | select((.priority // 0) == 0) | .name] | join(",")')" \
        Signal,Target,Phase,Priority,Environment,Count,Age

    local name=rr-t5700$(od -An -N3 -tx1 /dev/urandom | tr -d ' \n') fp
    fp=$(fp_of "prod:Deployment:$name")
    k apply -f - <<EOF
apiVersion: kubernaut.ai/v1alpha1
kind: RemediationRequest
metadata:
  name: $name
  namespace: kubernaut-system
spec:
  signalFingerprint: "$fp"
  signalName: KubePodCrashLooping
  severity: critical
  signalType: alert
  targetType: kubernetes
  targetResource: {kind: Deployment, name: $name, namespace: prod}
  firingTime: "$(gw_now -60)"
  receivedTime: "$(gw_now)"
  environment: production
  priority: P0
EOF
    kube_api "$GW_RR_API/namespaces/kubernaut-system/remediationrequests/$name/status" -f -X PATCH \
        -H 'Content-Type: application/merge-patch+json' \
        --data '{"status":{"deduplication":{"occurrenceCount":7}}}' >/dev/null
    # by its short name, with the columns
    run k -n kubernaut-system get rr "$name"
    assert_success
    assert_line --index 0 --regexp '^NAME +SIGNAL +TARGET +PHASE +PRIORITY +ENVIRONMENT +COUNT +AGE$'
    # (no phase yet: an empty column)
    assert_line --index 1 --regexp "^$name +KubePodCrashLooping +$name +P0 +production +7 +[0-9]+s$"
    run k -n kubernaut-system get rr "$name" -o wide
    assert_success
    assert_line --index 0 --regexp '^NAME +SIGNAL +TARGET +PHASE +PRIORITY +ENVIRONMENT +COUNT +KIND +TARGET-NAMESPACE +AGE$'
    assert_line --index 1 --regexp "^$name +KubePodCrashLooping +$name +P0 +production +7 +Deployment +prod +[0-9]+s$"
    k -n kubernaut-system delete rr "$name" >/dev/null
}

@test "the CRD's schema refuses what SPEC section 4 forbids (server-side dry run)" {
    local fp
    fp=$(fp_of "prod:Deployment:t5700-schema")
    rr_doc() {
        cat <<EOF
apiVersion: kubernaut.ai/v1alpha1
kind: RemediationRequest
metadata: {name: rr-t5700-schema, namespace: kubernaut-system}
spec:
  signalFingerprint: "$1"
  signalName: X
  severity: critical
  signalType: alert
  targetType: kubernetes
  targetResource: {kind: Deployment, name: d}
  firingTime: "$(gw_now)"
  receivedTime: "$(gw_now)"
  priority: $2
EOF
    }
    run k apply --dry-run=server -f - < <(rr_doc "$fp" P1)
    assert_success
    assert_output --partial 'created (server dry run)'
    run k apply --dry-run=server -f - < <(rr_doc "$fp" P9)
    assert_failure
    assert_output --partial 'spec.priority'
    run k apply --dry-run=server -f - < <(rr_doc "${fp:0:40}" P1)
    assert_failure
    assert_output --partial 'spec.signalFingerprint'
    # a dry run stores nothing
    run k -n kubernaut-system get rr rr-t5700-schema
    assert_failure
}

# old_server: a manifest as this v1.20 test apiserver takes it: only the
# versions it lacks are swapped (policy/v1 PodDisruptionBudget: 1.21).
old_server() { sed 's|^apiVersion: policy/v1$|apiVersion: policy/v1beta1|'; }

# The default layout needs kustomize v4 (kubectl 1.21+); this server's
# kubectl 1.20 carries kustomize v2.0.3, so the files are checked one by
# one, the generated ConfigMaps made with `kubectl create configmap`.
@test "every manifest passes kubectl apply --dry-run=server, file by file; kustomization.yaml names them all" {
    local f out
    # what kustomization.yaml puts together, read with a YAML parser
    run python3 - "$KDIR" <<'EOF'
import os, sys, yaml
d = sys.argv[1]
k = yaml.safe_load(open(os.path.join(d, "kustomization.yaml")))
assert "bases" not in k, "bases: is deprecated; resources: only"
assert k["resources"] == ["serviceaccount.yaml", "rbac-base.yaml", "rbac-environment.yaml",
                          "deployment.yaml", "pdb.yaml", "service.yaml"], k["resources"]
assert not any("crd" in r or "namespace" in r for r in k["resources"]), "the CRD and Namespace are crd/'s"
gen = {g["name"]: g for g in k["configMapGenerator"]}
assert gen["alertgw-config"]["files"] == ["alertgw.yaml"]
assert gen["alertgw-lighttpd"]["envs"] == ["lighttpd.env"]
c = yaml.safe_load(open(os.path.join(d, "crd", "kustomization.yaml")))
assert c["resources"] == ["namespace.yaml", "../../crd"], c["resources"]
dep = yaml.safe_load(open(os.path.join(d, "deployment.yaml")))
pod = dep["spec"]["template"]["spec"]
refs = {e["configMapRef"]["name"] for ct in pod["containers"] for e in ct.get("envFrom", []) if "configMapRef" in e}
refs |= {v["configMap"]["name"] for v in pod.get("volumes", []) if "configMap" in v}
assert refs == set(gen), f"the Deployment refers to {refs}, the generators make {set(gen)}"
img = {i["name"]: i for i in k["images"]}
assert pod["containers"][0]["image"] in img, "the Deployment's image is not the images: entry"
e = img[pod["containers"][0]["image"]]
print(f'{e["newName"]}:{e["newTag"]}')
EOF
    assert_success
    # the rendered image reference names a registry (a host with a dot or a
    # port, or localhost) and a tag
    [[ $output =~ ^([a-z0-9.-]+\.[a-z]+|[a-z0-9.-]+:[0-9]+|localhost)/[a-z0-9._/-]+:[A-Za-z0-9._-]+$ ]] ||
        fail "image reference without a registry or a tag: $output"
    # every file, on its own
    for f in crd/namespace.yaml ../crd/remediationrequests.yaml serviceaccount.yaml rbac-base.yaml \
             rbac-environment.yaml deployment.yaml pdb.yaml service.yaml \
             rbac-owners.yaml rbac-tokenreview.yaml networkpolicy.yaml secret.example.yaml; do
        run k apply --dry-run=server -f - < <(old_server <"$KDIR/$f")
        assert_success
        assert_output --partial '(server dry run)'
        refute_output --partial error
    done
    # the two generated ConfigMaps
    out=$(k -n kubernaut-system create configmap alertgw-config --from-file="$KDIR/alertgw.yaml" \
        --dry-run=client -o yaml)
    run k apply --dry-run=server -f - <<<"$out"
    assert_success
    out=$(k -n kubernaut-system create configmap alertgw-lighttpd --from-env-file="$KDIR/lighttpd.env" \
        --dry-run=client -o yaml)
    run k apply --dry-run=server -f - <<<"$out"
    assert_success
    printf '%s\n' "$out" >"$GW_TMP/alertgw-lighttpd.yaml"
    assert_equal "$(yq_get "$GW_TMP/alertgw-lighttpd.yaml" 'docs[0]["data"]["ALERTGW_LISTEN_PORT"]')" 8080
    # nothing was stored
    run k -n kubernaut-system get deployment alertgw
    assert_failure
    assert_output --partial NotFound
}

# removed_apis DIR: every Kubernetes object in DIR/kubernetes (all of it),
# DIR/crd and DIR/rbac.yaml, read with a YAML parser; fails naming each one
# whose apiVersion Kubernetes removed by 1.25.
removed_apis() {
    python3 - "$1" <<'EOF'
import glob, os, sys, yaml
removed = {  # group/version: the release that removed it
    "extensions/v1beta1": "1.22", "apps/v1beta1": "1.16", "apps/v1beta2": "1.16",
    "policy/v1beta1": "1.25", "batch/v1beta1": "1.25", "batch/v2alpha1": "1.21",
    "rbac.authorization.k8s.io/v1beta1": "1.22", "rbac.authorization.k8s.io/v1alpha1": "1.22",
    "apiextensions.k8s.io/v1beta1": "1.22", "admissionregistration.k8s.io/v1beta1": "1.22",
    "networking.k8s.io/v1beta1": "1.22", "scheduling.k8s.io/v1beta1": "1.22",
    "storage.k8s.io/v1beta1": "1.22", "certificates.k8s.io/v1beta1": "1.22",
    "coordination.k8s.io/v1beta1": "1.22", "apiregistration.k8s.io/v1beta1": "1.22",
    "authentication.k8s.io/v1beta1": "1.22", "authorization.k8s.io/v1beta1": "1.22",
    "autoscaling/v2beta1": "1.25", "discovery.k8s.io/v1beta1": "1.25",
    "events.k8s.io/v1beta1": "1.25", "node.k8s.io/v1beta1": "1.25",
}
root = sys.argv[1]
files = sorted(set(glob.glob(f"{root}/kubernetes/**/*.yaml", recursive=True)) |
               set(glob.glob(f"{root}/crd/*.yaml")) | {f"{root}/rbac.yaml"})
bad, n = [], 0
for f in files:
    for doc in yaml.safe_load_all(open(f)):
        if not isinstance(doc, dict) or "apiVersion" not in doc:
            continue  # alertgw.yaml, Alertmanager and Grafana configuration
        n += 1
        v = doc["apiVersion"]
        if v in removed:
            bad.append(f"{os.path.relpath(f, root)}: {doc.get('kind')} {v} (removed in {removed[v]})")
print(f"{n} objects in {len(files)} files")
for b in bad:
    print(b)
sys.exit(1 if bad else 0)
EOF
}

@test "no default manifest uses an API removed from Kubernetes by 1.25 (read with a YAML parser)" {
    run removed_apis "$GW_ROOT/deploy"
    assert_success
    assert_output --regexp '^[0-9]+ objects in [0-9]+ files$'
    # the check can fail
    mkdir -p "$GW_TMP/removed/kubernetes"
    sed 's|^apiVersion: policy/v1$|apiVersion: policy/v1beta1|' "$KDIR/pdb.yaml" >"$GW_TMP/removed/kubernetes/pdb.yaml"
    cp "$GW_ROOT/deploy/rbac.yaml" "$GW_TMP/removed/"
    run removed_apis "$GW_TMP/removed"
    assert_failure
    assert_output --partial 'kubernetes/pdb.yaml: PodDisruptionBudget policy/v1beta1 (removed in 1.25)'
}

@test "the Prometheus Operator component: the ServiceMonitor finds the Service; the rules are alertgw-rules.yaml's, selecting service=\"alertgw\"" {
    local c=$KDIR/components/prometheus-operator
    run python3 - "$KDIR" "$GW_ROOT/deploy/prometheus/alertgw-rules.yaml" "$GW_TMP/operator-rules.yaml" <<'EOF'
import json, os, sys, yaml
d, rules, out = sys.argv[1:4]
c = os.path.join(d, "components", "prometheus-operator")
k = yaml.safe_load(open(os.path.join(c, "kustomization.yaml")))
assert k["kind"] == "Component", k["kind"]
assert k["resources"] == ["servicemonitor.yaml", "prometheusrule.yaml"]
sm = yaml.safe_load(open(os.path.join(c, "servicemonitor.yaml")))
svc = yaml.safe_load(open(os.path.join(d, "service.yaml")))
labels = svc["metadata"]["labels"]
assert all(labels.get(k) == v for k, v in sm["spec"]["selector"]["matchLabels"].items()), "selector misses the Service"
assert svc["metadata"]["namespace"] in sm["spec"]["namespaceSelector"]["matchNames"]
ports = {p["name"] for p in svc["spec"]["ports"]}
assert all(e["port"] in ports for e in sm["spec"]["endpoints"]), "no such Service port"
pr = yaml.safe_load(open(os.path.join(c, "prometheusrule.yaml")))
host = yaml.safe_load(open(rules))
got = json.dumps(pr["spec"]["groups"])
assert 'job=\\"alertgw\\"' not in got, "a rule still selects job=alertgw"
assert got.replace('service=\\"alertgw\\"', 'job=\\"alertgw\\"') == json.dumps(host["groups"]), \
    "the PrometheusRule's groups drifted from alertgw-rules.yaml"
yaml.safe_dump({"groups": pr["spec"]["groups"]}, open(out, "w"))
EOF
    assert_success
    run promtool check rules "$GW_TMP/operator-rules.yaml"
    assert_success
    grep -q 'service="alertgw"' "$c/prometheusrule.yaml"
}

@test "broken copies of the manifests are refused by the apiserver" {
    local bad=$GW_TMP/bad
    mkdir -p "$bad"
    # selector that does not match the template's labels (apps/v1 validation)
    sed 's/^        app.kubernetes.io\/name: alertgw$/        app.kubernetes.io\/name: not-alertgw/' \
        "$KDIR/deployment.yaml" >"$bad/deployment.yaml"
    run cmp -s "$KDIR/deployment.yaml" "$bad/deployment.yaml"
    assert_failure   # the copy differs
    run k apply --dry-run=server --validate=false -f "$bad/deployment.yaml"
    assert_failure
    assert_output --partial 'selector'
    # a wrong field name: the client-side check against the apiserver's
    # own OpenAPI document refuses it
    sed 's/^  replicas: 2$/  replicaz: 2/' "$KDIR/deployment.yaml" >"$bad/deployment.yaml"
    run cmp -s "$KDIR/deployment.yaml" "$bad/deployment.yaml"
    assert_failure   # the copy differs
    run k apply --dry-run=server -f "$bad/deployment.yaml"
    assert_failure
    assert_output --partial 'replicaz'
    # a wrong value, past the client-side check: the server refuses it
    sed 's/minAvailable: 1/minAvailable: "one"/' "$KDIR/pdb.yaml" | old_server >"$bad/pdb.yaml"
    run cmp -s "$KDIR/pdb.yaml" "$bad/pdb.yaml"
    assert_failure   # the copy differs
    run k apply --dry-run=server --validate=false -f "$bad/pdb.yaml"
    assert_failure
    assert_output --partial 'minAvailable'
    # a ClusterRoleBinding to a ServiceAccount must name its namespace
    sed '/^    namespace: kubernaut-system$/d' "$KDIR/rbac-environment.yaml" >"$bad/rbac.yaml"
    run cmp -s "$KDIR/rbac-environment.yaml" "$bad/rbac.yaml"
    assert_failure   # the copy differs
    run k apply --dry-run=server --validate=false -f "$bad/rbac.yaml"
    assert_failure
    assert_output --partial 'namespace'
}

# can NS VERB RESOURCE [ARGS...]: kubectl auth can-i as the ServiceAccount
# alertgw of namespace NS (impersonated by admin); prints yes or no.
can() {
    local ns=$1; shift
    k auth can-i --as="system:serviceaccount:$ns:alertgw" "$@" 2>/dev/null || true
}

@test "RBAC per feature: least privilege for the ServiceAccount" {
    local ns=$SCRATCH_NS f dir=$GW_TMP/rbac
    mkdir -p "$dir"
    # The manifests as they are, moved to a scratch namespace whose
    # ServiceAccount nothing else grants anything (deploy/rbac.yaml, used
    # by the other suites, binds kubernaut-system's alertgw more widely).
    k create namespace "$ns" --dry-run=client -o yaml | k apply -f - >/dev/null
    for f in serviceaccount rbac-base rbac-environment rbac-owners rbac-tokenreview; do
        sed -e "s/kubernaut-system/$ns/g" \
            -e "s/name: alertgw-\(namespaces\|owners\|tokenreview\|signal-sender\)$/name: alertgw-\1-$ns/" \
            "$KDIR/$f.yaml" >"$dir/$f.yaml"
    done
    run k apply -f "$dir/serviceaccount.yaml" -f "$dir/rbac-base.yaml" -f "$dir/rbac-environment.yaml"
    assert_success
    # RBAC reaches the authorizer's cache within a moment
    gw_wait_for 10 _can_is "$ns" yes create remediationrequests.kubernaut.ai -n "$ns" ||
        fail "the base Role did not take effect"

    # base: the requests and their status in the target namespace
    assert_equal "$(can "$ns" create remediationrequests.kubernaut.ai -n "$ns")" yes
    assert_equal "$(can "$ns" get remediationrequests.kubernaut.ai -n "$ns")" yes
    assert_equal "$(can "$ns" list remediationrequests.kubernaut.ai -n "$ns")" yes
    assert_equal "$(can "$ns" patch remediationrequests.kubernaut.ai -n "$ns")" yes
    assert_equal "$(can "$ns" patch remediationrequests.kubernaut.ai --subresource=status -n "$ns")" yes
    assert_equal "$(can "$ns" delete remediationrequests.kubernaut.ai -n "$ns")" no
    assert_equal "$(can "$ns" update remediationrequests.kubernaut.ai -n "$ns")" no
    assert_equal "$(can "$ns" watch remediationrequests.kubernaut.ai -n "$ns")" no
    assert_equal "$(can "$ns" update remediationrequests.kubernaut.ai --subresource=status -n "$ns")" no
    # ... and nowhere else
    assert_equal "$(can "$ns" create remediationrequests.kubernaut.ai -n default)" no
    # the request history: create and patch Events in the request
    # namespace, nothing more, nowhere else
    assert_equal "$(can "$ns" create events -n "$ns")" yes
    assert_equal "$(can "$ns" patch events -n "$ns")" yes
    assert_equal "$(can "$ns" get events -n "$ns")" no
    assert_equal "$(can "$ns" list events -n "$ns")" no
    assert_equal "$(can "$ns" update events -n "$ns")" no
    assert_equal "$(can "$ns" delete events -n "$ns")" no
    assert_equal "$(can "$ns" create events -n default)" no
    assert_equal "$(can "$ns" patch events -n default)" no
    assert_equal "$(can "$ns" create events.events.k8s.io -n default)" no
    # environment: namespace labels by name, the one override ConfigMap
    assert_equal "$(can "$ns" get namespaces)" yes
    assert_equal "$(can "$ns" list namespaces)" no
    assert_equal "$(can "$ns" get configmaps/kubernaut-environment-overrides -n "$ns")" yes
    assert_equal "$(can "$ns" get configmaps/other -n "$ns")" no
    assert_equal "$(can "$ns" list configmaps -n "$ns")" no
    # never secrets, never pods
    assert_equal "$(can "$ns" get secrets -n "$ns")" no
    assert_equal "$(can "$ns" list secrets --all-namespaces)" no
    assert_equal "$(can "$ns" create pods -n "$ns")" no
    # owners and tokenreview are off until their files are applied
    assert_equal "$(can "$ns" get pods -n default)" no
    assert_equal "$(can "$ns" create tokenreviews.authentication.k8s.io)" no

    run k apply -f "$dir/rbac-owners.yaml" -f "$dir/rbac-tokenreview.yaml"
    assert_success
    gw_wait_for 10 _can_is "$ns" yes get pods -n default || fail "rbac-owners.yaml did not take effect"
    local r
    for r in pods nodes replicasets.apps deployments.apps statefulsets.apps daemonsets.apps \
             jobs.batch cronjobs.batch horizontalpodautoscalers.autoscaling \
             ingresses.networking.k8s.io; do
        assert_equal "$r: $(can "$ns" get "$r" -n default)" "$r: yes"
        assert_equal "$r list: $(can "$ns" list "$r" -n default)" "$r list: no"
    done
    assert_equal "$(can "$ns" create tokenreviews.authentication.k8s.io)" yes
    assert_equal "$(can "$ns" create subjectaccessreviews.authorization.k8s.io)" yes
    # still read-only, still no secrets
    assert_equal "$(can "$ns" create pods -n default)" no
    assert_equal "$(can "$ns" delete deployments.apps -n default)" no
    assert_equal "$(can "$ns" get secrets -n default)" no
    assert_equal "$(can "$ns" delete remediationrequests.kubernaut.ai -n "$ns")" no

    k delete -f "$dir/rbac-owners.yaml" -f "$dir/rbac-tokenreview.yaml" \
        -f "$dir/rbac-environment.yaml" -f "$dir/rbac-base.yaml" >/dev/null
    k delete namespace "$ns" --wait=false >/dev/null
}
_can_is() { local ns=$1 want=$2; shift 2; [[ $(can "$ns" "$@") == "$want" ]]; }

@test "the ConfigMap's alertgw.yaml passes --check-config; a broken one does not" {
    local cfg bin listen
    cfg=$(extract_config)
    bin=$(fcgi_bin)
    grep -q '^redis:' "$cfg"
    # with the pod's listen address, which is not loopback: every signal
    # route must authenticate
    listen=$(sed -n 's/^ALERTGW_LISTEN_ADDR=//p' "$KDIR/lighttpd.env")
    assert_equal "$listen" 0.0.0.0
    ALERTGW_LISTEN_ADDR=$listen run "$bin" --check-config "$cfg"
    assert_success
    assert_output --partial 'configuration OK'
    sed 's/^  events: bearer$/  events: none/' "$cfg" >"$GW_TMP/bad-alertgw.yaml"
    ALERTGW_LISTEN_ADDR=$listen run "$bin" --check-config "$GW_TMP/bad-alertgw.yaml"
    assert_failure
    assert_output --partial 'auth.events'
    assert_output --partial 'auth.allow_anonymous'
    # the check can fail: an unknown key and a bad value
    { cat "$cfg"; printf 'dedup:\n  ttll: 5m\n'; } >"$GW_TMP/bad-alertgw.yaml"
    run "$bin" --check-config "$GW_TMP/bad-alertgw.yaml"
    assert_failure
    assert_output --partial 'ttll'
    sed 's/^  prometheus: bearer$/  prometheus: bearr/' "$cfg" >"$GW_TMP/bad-alertgw.yaml"
    run "$bin" --check-config "$GW_TMP/bad-alertgw.yaml"
    assert_failure
    assert_output --partial 'auth.prometheus'
}

@test "the ConfigMap's lighttpd parameters pass lighttpd -tt with the reference lighttpd.conf" {
    local state=$GW_TMP/tt-state envs=()
    mkdir -p "$state"
    mapfile -t envs < <(cm_env alertgw-lighttpd)
    (( ${#envs[@]} >= 5 ))
    # the container's paths, with the state dir (an emptyDir there) and the
    # worker binary (/usr/local/bin/alertgw-fcgi there) replaced
    run env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${envs[@]}" \
        ALERTGW_STATE_DIR="$state" ALERTGW_FCGI_BIN="$(fcgi_bin)" \
        lighttpd -tt -f "$GW_ROOT/lighttpd.conf"
    assert_success
    run env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${envs[@]}" \
        ALERTGW_STATE_DIR="$state" ALERTGW_FCGI_BIN="$(fcgi_bin)" \
        lighttpd -p -f "$GW_ROOT/lighttpd.conf"
    assert_success
    assert_output --regexp 'server.port += 8080'
    assert_output --regexp 'server.bind += "0.0.0.0"'
    # and a bad parameter stops it
    run env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin "${envs[@]}" ALERTGW_LISTEN_PORT=http \
        ALERTGW_STATE_DIR="$state" ALERTGW_FCGI_BIN="$(fcgi_bin)" \
        lighttpd -tt -f "$GW_ROOT/lighttpd.conf"
    assert_failure
}

@test "amtool check-config accepts the receiver example and refuses a broken copy" {
    run amtool check-config "$KDIR/alertmanager-receiver.yaml"
    assert_success
    assert_output --partial SUCCESS
    assert_equal "$(yq_get "$KDIR/alertmanager-receiver.yaml" \
        'docs[0]["receivers"][0]["webhook_configs"][0]["http_config"]["authorization"]["credentials_file"]')" \
        /etc/alertmanager/secrets/alertgw-sender/token
    # the current form, not the deprecated bearer_token_file
    grep -q 'bearer_token_file' "$KDIR/alertmanager-receiver.yaml" && fail "bearer_token_file is deprecated"
    sed 's/send_resolved: true/send_resolved: maybe/' "$KDIR/alertmanager-receiver.yaml" \
        >"$GW_TMP/bad-am.yaml"
    run amtool check-config "$GW_TMP/bad-am.yaml"
    assert_failure
}

# start_container: alertgw-container.sh (the image's entry point) with the
# ConfigMap's lighttpd parameters and alertgw.yaml; replaced: the listening
# address (loopback, a free port), the state dir, the binary and
# lighttpd.conf paths, Redis (the test's, no AUTH), the kubeconfig (the
# test apiserver's; in the pod it is the ServiceAccount), and the secret
# files (the test's).
start_container() {
    local dir=$GW_TMP/container port envs=() attempt
    mkdir -p "$dir/state" "$dir/secrets"
    extract_config >/dev/null
    cp "$GW_TMP/alertgw.yaml" "$dir/alertgw.yaml"
    mapfile -t envs < <(cm_env alertgw-lighttpd)
    for attempt in 1 2 3; do
        port=$(gw_free_port) || return 1
        # the soft core limit raised to the hard one, so that the entry
        # point's own ulimit -c 0 is what the test sees
        prlimit --core="$(ulimit -H -c):" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME="$GW_TMP" TZ=UTC "${envs[@]}" \
            ALERTGW_LISTEN_ADDR=127.0.0.1 ALERTGW_LISTEN_PORT="$port" \
            ALERTGW_STATE_DIR="$dir/state" ALERTGW_FCGI_BIN="$(fcgi_bin)" \
            ALERTGW_LIGHTTPD_CONF="$GW_ROOT/lighttpd.conf" \
            ALERTGW_CONFIG="$dir/alertgw.yaml" \
            ALERTGW_REDIS_ADDR="unix:$GW_TMP/redis/redis.sock" ALERTGW_REDIS_PASSWORD_FILE= \
            ALERTGW_KUBERNETES_KUBECONFIG="$KUBECONFIG_GATEWAY" \
            ALERTGW_AUTH_BEARER_TOKENS_FILE="$dir/secrets/bearer-tokens" \
            ALERTGW_GRAFANA_SECRET_FILES="$dir/secrets/grafana-hmac" \
            ${ASAN_OPTIONS:+"ASAN_OPTIONS=$ASAN_OPTIONS"} \
            "$KDIR/alertgw-container.sh" >>"$dir/stdout.log" 2>>"$dir/stderr.log" 3>&- &
        echo $! >"$dir/pid"
        export GW_URL=http://127.0.0.1:$port
        gw_wait_for 15 _container_up && alive "$(<"$dir/pid")" && return 0
        gw_kill_pid "$(<"$dir/pid")" 10
    done
    tail -n 20 "$dir/stderr.log" >&2
    return 1
}
_container_up() {
    alive "$(<"$GW_TMP/container/pid")" || return 0
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$GW_URL/healthz") == 200 ]]
}

@test "the container entry point serves the ConfigMap's config; the receiver and contact point examples authenticate" {
    local dir=$GW_TMP/container token secret
    mkdir -p "$dir/secrets"
    token=$(openssl rand -hex 32)
    secret=$(openssl rand -hex 24)
    printf '%s\n' "$token" >"$dir/token"
    printf '%s\n' "$(printf %s "$token" | sha256sum | cut -d' ' -f1)" >"$dir/secrets/bearer-tokens"
    printf '%s\n' "$secret" >"$dir/secrets/grafana-hmac"
    start_container || fail "the container entry point did not start"
    gw_request GET /readyz
    assert_status 200

    # no core files: lighttpd and its workers run with a core limit of 0
    local lpid w
    lpid=$(<"$dir/state/lighttpd.pid")
    for w in "$lpid" $(gw_worker_pids "$lpid"); do
        grep -qE '^Max core file size +0 +0 ' "/proc/$w/limits" ||
            fail "pid $w: $(grep 'core file' "/proc/$w/limits")"
    done

    # lighttpd's access log is the entry point's stdout
    gw_wait_for 5 grep -q '"GET /readyz HTTP/1.1" 200' "$dir/stdout.log" ||
        fail "no access log line on stdout: $(tail -n 3 "$dir/stdout.log")"

    # Alertmanager's bearer token: refused without, accepted with
    local d fp body
    d=$(gw_uniq kube-am)
    fp=$(fp_of "prod:Deployment:$d")
    body=$(am_body KubeAmToken deployment="$d" namespace=prod severity=critical)
    gw_post_alert "$body"
    assert_status 401
    gw_post_alert "$body" -H "Authorization: Bearer $token"
    assert_status 201
    assert_equal "$(kube_rr_count "$fp")" 1

    # Grafana, as the contact point example configures it: the header names
    # are read from grafana-contact-point.yaml
    local sig_h ts_h ts g
    sig_h=$(yq_get "$KDIR/grafana-contact-point.yaml" \
        'docs[0]["contactPoints"][0]["receivers"][0]["settings"]["hmacConfig"]["header"]')
    ts_h=$(yq_get "$KDIR/grafana-contact-point.yaml" \
        'docs[0]["contactPoints"][0]["receivers"][0]["settings"]["hmacConfig"]["timestampHeader"]')
    assert_equal "$(yq_get "$KDIR/grafana-contact-point.yaml" \
        'docs[0]["contactPoints"][0]["receivers"][0]["settings"]["url"]')" \
        http://alertgw.kubernaut-system.svc/api/v1/signals/grafana
    d=$(gw_uniq kube-graf)
    fp=$(fp_of "prod:Deployment:$d")
    g=$(jq -cn --arg d "$d" --arg s "$(gw_now -60)" '
        {receiver: "alertgw", status: "firing", orgId: 1, version: "1", state: "alerting",
         groupKey: "{}:{alertname=\"KubeGrafana\"}", truncatedAlerts: 0, title: "[FIRING:1]",
         message: "m", groupLabels: {alertname: "KubeGrafana"}, commonLabels: {}, commonAnnotations: {},
         externalURL: "http://grafana.test/",
         alerts: [{status: "firing", labels: {alertname: "KubeGrafana", deployment: $d,
                   namespace: "prod", severity: "warning"}, annotations: {},
                   startsAt: $s, endsAt: "0001-01-01T00:00:00Z", generatorURL: "", fingerprint: "01",
                   silenceURL: "", dashboardURL: "", panelURL: "", values: {}}]}')
    printf '%s' "$g" >"$GW_TMP/grafana.json"
    ts=$(date +%s)
    # a body-only signature is not what this config accepts (timestamp signed)
    gw_post /api/v1/signals/grafana "@$GW_TMP/grafana.json" \
        -H "$sig_h: $(printf '%s' "$g" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)"
    assert_status 401
    # Grafana's: hex HMAC-SHA256 over "<timestamp>:<body>", the timestamp in its header
    gw_post /api/v1/signals/grafana "@$GW_TMP/grafana.json" -H "$ts_h: $ts" \
        -H "$sig_h: $(printf '%s:%s' "$ts" "$g" | openssl dgst -sha256 -hmac "$secret" -r | cut -d' ' -f1)"
    assert_status 201
    assert_equal "$(kube_rr_count "$fp")" 1

    # the real Alertmanager with the receiver example: url and token file replaced
    local am=$GW_TMP/am port
    mkdir -p "$am/data"
    python3 - "$KDIR/alertmanager-receiver.yaml" "$am/alertmanager.yml" "$GW_URL" "$dir/token" <<'EOF'
import sys, yaml
c = yaml.safe_load(open(sys.argv[1]))
c["route"].update(group_wait="1s", group_interval="2s", repeat_interval="1h")
w = c["receivers"][0]["webhook_configs"][0]
assert w["url"].endswith("/api/v1/signals/prometheus")
w["url"] = sys.argv[3] + "/api/v1/signals/prometheus"
w["http_config"]["authorization"]["credentials_file"] = sys.argv[4]
yaml.safe_dump(c, open(sys.argv[2], "w"))
EOF
    run amtool check-config "$am/alertmanager.yml"
    assert_success
    port=$(gw_free_port)
    prometheus-alertmanager --config.file="$am/alertmanager.yml" --storage.path="$am/data" \
        --web.listen-address="127.0.0.1:$port" --cluster.listen-address= \
        >>"$am/alertmanager.log" 2>&1 3>&- &
    echo $! >"$am/pid"
    AM_URL=http://127.0.0.1:$port
    gw_wait_for 20 _am_ready || fail "alertmanager not ready: $(tail -n 5 "$am/alertmanager.log")"
    d=$(gw_uniq kube-amreal)
    fp=$(fp_of "prod:Deployment:$d")
    body=$(jq -cn --arg d "$d" --arg s "$(gw_now -60)" --arg e "$(gw_now 300)" '
        [{labels: {alertname: "KubeAmReal", deployment: $d, namespace: "prod", severity: "critical"},
          annotations: {summary: "t5700"}, startsAt: $s, endsAt: $e}]')
    [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 5 -H 'Content-Type: application/json' \
        --data-binary "$body" "$AM_URL/api/v2/alerts") == 200 ]]
    gw_wait_for 30 _rr_count_is "$fp" 1 ||
        fail "Alertmanager's webhook made no request: $(tail -n 5 "$am/alertmanager.log")"
    gw_kill_pid "$(<"$am/pid")" 10
    rm -f "$am/pid"
    # every refusal above was the token's or the signature's, none the config's
    run grep -c 'security_event' "$dir/stderr.log"
    assert_output 2
}
_am_ready() { [[ $(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$AM_URL/-/ready") == 200 ]]; }
_rr_count_is() { [[ $(kube_rr_count "$1" 2>/dev/null) == "$2" ]]; }

@test "SIGTERM to the entry point is lighttpd's graceful stop: it and every worker exit" {
    local dir=$GW_TMP/container pid lpid workers w
    [[ -f $dir/pid ]] || start_container || fail "the container entry point did not start"
    pid=$(<"$dir/pid")
    lpid=$(<"$dir/state/lighttpd.pid")
    workers=$(gw_worker_pids "$lpid")
    [[ -n $workers ]]
    kill -TERM "$pid"
    gw_wait_for 15 _gw_pid_gone "$pid" || fail "the entry point did not exit within 15 s"
    wait "$pid" 2>/dev/null || true
    alive "$lpid" && fail "lighttpd $lpid still runs"
    for w in $workers; do
        gw_wait_for 5 _gw_pid_gone "$w" || fail "worker $w outlived lighttpd"
    done
    rm -f "$dir/pid"
    # graceful, not immediate: lighttpd logged the graceful shutdown
    grep -qi 'graceful' "$dir/stderr.log" || fail "no graceful-shutdown line: $(tail -n 5 "$dir/stderr.log")"
}
