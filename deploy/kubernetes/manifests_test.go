package kubernetes

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/lakestream/lakestream/datastream/kafka/kafkatest"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/schedule"
)

// kustomization is the part of kustomize's Kustomization the manifests
// use; decoding is strict, so a misspelt or unsupported field fails.
type kustomization struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Namespace  string `json:"namespace,omitempty"`
	Labels     []struct {
		Pairs map[string]string `json:"pairs"`
	} `json:"labels,omitempty"`
	Resources []string `json:"resources,omitempty"`
	Images    []struct {
		Name    string `json:"name"`
		NewName string `json:"newName,omitempty"`
		NewTag  string `json:"newTag,omitempty"`
	} `json:"images,omitempty"`
	Patches []struct {
		Path string `json:"path"`
	} `json:"patches,omitempty"`
}

// manifests is every object of a kustomization folder, by kind.
type manifests struct {
	services     []corev1.Service
	configMaps   []corev1.ConfigMap
	secrets      []corev1.Secret
	statefulSets []appsv1.StatefulSet
	deployments  []appsv1.Deployment
	jobs         []batchv1.Job
	cronJobs     []batchv1.CronJob
	hpas         []autoscalingv2.HorizontalPodAutoscaler
}

// decodeStrict decodes one YAML document into its k8s.io/api type,
// refusing unknown and duplicate fields.
func (m *manifests) decodeStrict(t *testing.T, file string, doc []byte) {
	t.Helper()
	var head struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
	}
	if err := yaml.Unmarshal(doc, &head); err != nil {
		t.Fatalf("%s: %v", file, err)
	}
	strict := func(v any) {
		if err := yaml.UnmarshalStrict(doc, v); err != nil {
			t.Fatalf("%s: %s %s: %v", file, head.APIVersion, head.Kind, err)
		}
	}
	switch head.APIVersion + " " + head.Kind {
	case "v1 Service":
		var o corev1.Service
		strict(&o)
		m.services = append(m.services, o)
	case "v1 ConfigMap":
		var o corev1.ConfigMap
		strict(&o)
		m.configMaps = append(m.configMaps, o)
	case "v1 Secret":
		var o corev1.Secret
		strict(&o)
		m.secrets = append(m.secrets, o)
	case "apps/v1 StatefulSet":
		var o appsv1.StatefulSet
		strict(&o)
		m.statefulSets = append(m.statefulSets, o)
	case "apps/v1 Deployment":
		var o appsv1.Deployment
		strict(&o)
		m.deployments = append(m.deployments, o)
	case "batch/v1 Job":
		var o batchv1.Job
		strict(&o)
		m.jobs = append(m.jobs, o)
	case "batch/v1 CronJob":
		var o batchv1.CronJob
		strict(&o)
		m.cronJobs = append(m.cronJobs, o)
	case "autoscaling/v2 HorizontalPodAutoscaler":
		var o autoscalingv2.HorizontalPodAutoscaler
		strict(&o)
		m.hpas = append(m.hpas, o)
	default:
		t.Fatalf("%s: unexpected %s %s", file, head.APIVersion, head.Kind)
	}
}

// load decodes a kustomization folder: its kustomization.yaml, then every
// resource and patch it lists (resources that are folders are loaded
// recursively into the same set, patches into a set of their own). Every
// YAML file of the folder must be listed.
func load(t *testing.T, dir string, into, patches *manifests) kustomization {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(dir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(raw, &k); err != nil {
		t.Fatalf("%s/kustomization.yaml: %v", dir, err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Fatalf("%s/kustomization.yaml: %s %s", dir, k.APIVersion, k.Kind)
	}
	listed := map[string]bool{"kustomization.yaml": true}
	readDocs := func(rel string, m *manifests) {
		path := filepath.Join(dir, rel)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%s/kustomization.yaml lists %s: %v", dir, rel, err)
		}
		listed[rel] = true
		for _, doc := range bytes.Split(data, []byte("\n---\n")) {
			if len(bytes.TrimSpace(doc)) > 0 {
				m.decodeStrict(t, path, doc)
			}
		}
	}
	for _, r := range k.Resources {
		if fi, err := os.Stat(filepath.Join(dir, r)); err == nil && fi.IsDir() {
			load(t, filepath.Join(dir, r), into, patches)
			continue
		}
		readDocs(r, into)
	}
	for _, p := range k.Patches {
		readDocs(p.Path, patches)
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.yaml"))
	for _, f := range files {
		if !listed[filepath.Base(f)] {
			t.Errorf("%s is not listed in %s/kustomization.yaml", f, dir)
		}
	}
	return k
}

// flagValue returns the value of --name=value in args ("" and false if
// absent); a bare --name is "true".
func flagValue(args []string, name string) (string, bool) {
	for _, a := range args {
		if a == "--"+name {
			return "true", true
		}
		if v, ok := strings.CutPrefix(a, "--"+name+"="); ok {
			return v, true
		}
	}
	return "", false
}

func portOf(t *testing.T, addr string) int32 {
	t.Helper()
	_, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatalf("address %q: %v", addr, err)
	}
	return int32(n)
}

// workload is a pod template with its owner's name.
type workload struct {
	kind, name string
	pod        corev1.PodTemplateSpec
}

func (m *manifests) workloads() []workload {
	var out []workload
	for _, o := range m.statefulSets {
		out = append(out, workload{"StatefulSet", o.Name, o.Spec.Template})
	}
	for _, o := range m.deployments {
		out = append(out, workload{"Deployment", o.Name, o.Spec.Template})
	}
	for _, o := range m.jobs {
		out = append(out, workload{"Job", o.Name, o.Spec.Template})
	}
	for _, o := range m.cronJobs {
		out = append(out, workload{"CronJob", o.Name, o.Spec.JobTemplate.Spec.Template})
	}
	return out
}

// resolvePort returns the container port a Service's or probe's target
// names (by name or number) in pod, or fails.
func resolvePort(t *testing.T, what string, pod corev1.PodSpec, target intstr.IntOrString) corev1.ContainerPort {
	t.Helper()
	for _, c := range pod.Containers {
		for _, p := range c.Ports {
			if target.Type == intstr.String && p.Name == target.StrVal || target.Type == intstr.Int && p.ContainerPort == target.IntVal {
				return p
			}
		}
	}
	t.Fatalf("%s: port %s is not a container port of the pod", what, target.String())
	return corev1.ContainerPort{}
}

func loadBase(t *testing.T) *manifests {
	t.Helper()
	var m, patches manifests
	load(t, "base", &m, &patches)
	return &m
}

// loadAll decodes the base and the objects the stream-distributed overlay
// adds (its patch, which scales the base's stream trainer to 0, is not
// applied: both stream jobs are checked).
func loadAll(t *testing.T) *manifests {
	t.Helper()
	var m, patches manifests
	load(t, "overlays/stream-distributed", &m, &patches)
	return &m
}

// TestManifestsDecodeStrictly: the base and every overlay decode into the
// k8s.io/api types with no unknown field, and every file is listed.
func TestManifestsDecodeStrictly(t *testing.T) {
	overlays, _ := filepath.Glob("overlays/*")
	for _, dir := range append([]string{"base"}, overlays...) {
		t.Run(dir, func(t *testing.T) {
			var m, patches manifests
			load(t, dir, &m, &patches)
			if len(m.workloads()) == 0 {
				t.Fatal("no workload")
			}
		})
	}
}

// TestServicesMatchPods: every Service selects the pods of exactly one
// workload, its target ports are ports of those pods, and its port equals
// the container port (flags address pods by DNS name and port number);
// every ConfigMap and Secret a pod reads exists; pods run as non-root.
func TestServicesMatchPods(t *testing.T) {
	m := loadAll(t)
	for _, svc := range m.services {
		var sel []workload
		for _, w := range m.workloads() {
			match := len(svc.Spec.Selector) > 0
			for k, v := range svc.Spec.Selector {
				match = match && w.pod.Labels[k] == v
			}
			if match {
				sel = append(sel, w)
			}
		}
		if len(sel) != 1 {
			t.Errorf("Service %s selects %d workloads, want 1", svc.Name, len(sel))
			continue
		}
		for _, p := range svc.Spec.Ports {
			cp := resolvePort(t, "Service "+svc.Name, sel[0].pod.Spec, p.TargetPort)
			if cp.ContainerPort != p.Port {
				t.Errorf("Service %s port %d targets container port %d: flags that name %s:%d would miss", svc.Name, p.Port, cp.ContainerPort, svc.Name, p.Port)
			}
		}
	}
	names := func(kind string) map[string]bool {
		out := map[string]bool{}
		if kind == "ConfigMap" {
			for _, c := range m.configMaps {
				out[c.Name] = true
			}
		} else {
			for _, s := range m.secrets {
				out[s.Name] = true
			}
		}
		return out
	}
	cms, secrets := names("ConfigMap"), names("Secret")
	for _, w := range m.workloads() {
		sc := w.pod.Spec.SecurityContext
		if sc == nil || sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot || sc.RunAsUser == nil || *sc.RunAsUser == 0 {
			t.Errorf("%s %s does not run as a non-root user", w.kind, w.name)
		}
		for _, c := range w.pod.Spec.Containers {
			for _, e := range c.EnvFrom {
				if e.ConfigMapRef != nil && !cms[e.ConfigMapRef.Name] {
					t.Errorf("%s %s reads the missing ConfigMap %s", w.kind, w.name, e.ConfigMapRef.Name)
				}
				if e.SecretRef != nil && !secrets[e.SecretRef.Name] {
					t.Errorf("%s %s reads the missing Secret %s", w.kind, w.name, e.SecretRef.Name)
				}
			}
			for _, v := range w.pod.Spec.Volumes {
				if v.ConfigMap != nil && !cms[v.ConfigMap.Name] {
					t.Errorf("%s %s mounts the missing ConfigMap %s", w.kind, w.name, v.ConfigMap.Name)
				}
			}
		}
	}
}

// shardMap returns the shard map of a StatefulSet of shards behind its
// headless Service: <name>-i.<service>:<port> for i < replicas.
func shardMap(t *testing.T, m *manifests, sts appsv1.StatefulSet) string {
	t.Helper()
	var svc *corev1.Service
	for i := range m.services {
		if m.services[i].Name == sts.Spec.ServiceName {
			svc = &m.services[i]
		}
	}
	if svc == nil || svc.Spec.ClusterIP != corev1.ClusterIPNone {
		t.Fatalf("StatefulSet %s: serviceName %q is not a headless Service", sts.Name, sts.Spec.ServiceName)
	}
	var addrs []string
	for i := range *sts.Spec.Replicas {
		addrs = append(addrs, fmt.Sprintf("%s-%d.%s:%d", sts.Name, i, svc.Name, svc.Spec.Ports[0].Port))
	}
	return strings.Join(addrs, ",")
}

// TestShardMapsAgree: each shard StatefulSet's --shards flag is its real
// shard map, its --shard is the pod index over its replica count, it
// listens on its container port; every worker names the same map, and the
// coordinator it names is shard 0 of a set that coordinates, whose
// --workers quorum is the Indexed Job's parallelism (bounded job) or the
// replicas of the workers' StatefulSet (exactly-once stream job, whose
// shards coordinate the workers' --topic asynchronously).
func TestShardMapsAgree(t *testing.T) {
	m := loadAll(t)
	maps := map[string]appsv1.StatefulSet{} // shard map → its StatefulSet
	for _, sts := range m.statefulSets {
		c := sts.Spec.Template.Spec.Containers[0]
		if c.Args[0] != "ps" {
			continue
		}
		want := shardMap(t, m, sts)
		if got, _ := flagValue(c.Args, "shards"); got != want {
			t.Errorf("StatefulSet %s: --shards=%s, want %s", sts.Name, got, want)
		}
		if got, _ := flagValue(c.Args, "shard"); got != fmt.Sprintf("$(SHARD_INDEX)/%d", *sts.Spec.Replicas) {
			t.Errorf("StatefulSet %s: --shard=%s, want $(SHARD_INDEX)/%d", sts.Name, got, *sts.Spec.Replicas)
		}
		if len(c.Env) == 0 || c.Env[0].Name != "SHARD_INDEX" || c.Env[0].ValueFrom == nil || c.Env[0].ValueFrom.FieldRef == nil ||
			c.Env[0].ValueFrom.FieldRef.FieldPath != "metadata.labels['apps.kubernetes.io/pod-index']" {
			t.Errorf("StatefulSet %s: SHARD_INDEX does not come from the pod-index label", sts.Name)
		}
		listen, _ := flagValue(c.Args, "listen")
		if p := portOf(t, listen); p != c.Ports[0].ContainerPort {
			t.Errorf("StatefulSet %s listens on %d, its container port is %d", sts.Name, p, c.Ports[0].ContainerPort)
		}
		maps[want] = sts
	}
	if len(maps) == 0 {
		t.Fatal("no shard StatefulSet")
	}
	workers := 0
	for _, w := range m.workloads() {
		c := w.pod.Spec.Containers[0]
		if len(c.Args) == 0 || c.Args[0] != "worker" {
			continue
		}
		workers++
		shards, _ := flagValue(c.Args, "shards")
		sts, ok := maps[shards]
		if !ok {
			t.Errorf("%s %s: --shards=%s is not the map of any shard StatefulSet", w.kind, w.name, shards)
			continue
		}
		psArgs := sts.Spec.Template.Spec.Containers[0].Args
		consistency, _ := flagValue(psArgs, "consistency")
		coord, _ := flagValue(c.Args, "coordinator")
		topic, isStream := flagValue(c.Args, "topic")
		if coord != strings.Split(shards, ",")[0] {
			t.Errorf("%s %s: --coordinator=%s is not shard 0 (%s)", w.kind, w.name, coord, strings.Split(shards, ",")[0])
			continue
		}
		if _, ok := flagValue(psArgs, "coordinate"); !ok {
			t.Errorf("%s %s: its shards (%s) run no coordinator", w.kind, w.name, sts.Name)
		}
		quorum, _ := flagValue(psArgs, "workers")
		switch {
		case isStream:
			// The exactly-once stream job: the coordinator runs the
			// same topic on async shards, and the workers are a
			// StatefulSet whose pod index is --worker-index, so a
			// restarted pod takes its index (its partitions) back.
			psTopic, _ := flagValue(psArgs, "topic")
			if consistency != "async" || psTopic != topic {
				t.Errorf("%s %s: --topic=%s needs async shards coordinating that topic (shards %s: --consistency=%s --topic=%s)", w.kind, w.name, topic, sts.Name, consistency, psTopic)
			}
			var set *appsv1.StatefulSet
			for i := range m.statefulSets {
				if m.statefulSets[i].Name == w.name {
					set = &m.statefulSets[i]
				}
			}
			if set == nil {
				t.Errorf("%s %s: exactly-once stream workers must be a StatefulSet (stable --worker-index)", w.kind, w.name)
				continue
			}
			if quorum != fmt.Sprint(*set.Spec.Replicas) {
				t.Errorf("StatefulSet %s runs %d workers; the coordinator waits for --workers=%s", set.Name, *set.Spec.Replicas, quorum)
			}
			if idx, _ := flagValue(c.Args, "worker-index"); idx != "$(WORKER_INDEX)" || len(c.Env) == 0 || c.Env[0].Name != "WORKER_INDEX" ||
				c.Env[0].ValueFrom == nil || c.Env[0].ValueFrom.FieldRef == nil || c.Env[0].ValueFrom.FieldRef.FieldPath != "metadata.labels['apps.kubernetes.io/pod-index']" {
				t.Errorf("StatefulSet %s: --worker-index=%s does not come from the pod-index label", set.Name, idx)
			}
			if name, _ := flagValue(c.Args, "name"); !strings.Contains(name, "$(WORKER_INDEX)") {
				t.Errorf("StatefulSet %s: --name=%s is not unique per index", set.Name, name)
			}
		default:
			var job *batchv1.Job
			for i := range m.jobs {
				if m.jobs[i].Name == w.name {
					job = &m.jobs[i]
				}
			}
			if job == nil || job.Spec.CompletionMode == nil || *job.Spec.CompletionMode != batchv1.IndexedCompletion {
				t.Errorf("%s %s: bounded workers must be an Indexed Job", w.kind, w.name)
				continue
			}
			if quorum != fmt.Sprint(*job.Spec.Parallelism) || *job.Spec.Parallelism != *job.Spec.Completions {
				t.Errorf("Job %s runs %d workers (%d completions); the coordinator waits for --workers=%s", job.Name, *job.Spec.Parallelism, *job.Spec.Completions, quorum)
			}
			if name, _ := flagValue(c.Args, "name"); !strings.Contains(name, "$(JOB_COMPLETION_INDEX)") {
				t.Errorf("Job %s: --name=%s is not unique per index", job.Name, name)
			}
		}
	}
	if workers == 0 {
		t.Error("no worker")
	}
}

// TestPredictor: the predictor's readiness probe is gRPC health on the port
// it listens on, its liveness probe is /metrics on its metrics port, and
// the HPA scales its Deployment.
func TestPredictor(t *testing.T) {
	m := loadBase(t)
	var d *appsv1.Deployment
	for i := range m.deployments {
		if m.deployments[i].Name == "predictor" {
			d = &m.deployments[i]
		}
	}
	if d == nil {
		t.Fatal("no predictor Deployment")
	}
	c := d.Spec.Template.Spec.Containers[0]
	if !slices.Equal(c.Command, []string{"/predictor"}) {
		t.Errorf("predictor command %v, want [/predictor]", c.Command)
	}
	listen, _ := flagValue(c.Args, "listen")
	metrics, _ := flagValue(c.Args, "metrics-listen")
	rp := c.ReadinessProbe
	if rp == nil || rp.GRPC == nil || rp.GRPC.Port != portOf(t, listen) {
		t.Errorf("readiness probe %+v is not gRPC health on the --listen port %s", rp, listen)
	}
	lp := c.LivenessProbe
	if lp == nil || lp.HTTPGet == nil || lp.HTTPGet.Path != "/metrics" ||
		resolvePort(t, "liveness probe", d.Spec.Template.Spec, lp.HTTPGet.Port).ContainerPort != portOf(t, metrics) {
		t.Errorf("liveness probe %+v is not /metrics on the --metrics-listen port %s", lp, metrics)
	}
	found := false
	for _, h := range m.hpas {
		if h.Spec.ScaleTargetRef.Kind == "Deployment" && h.Spec.ScaleTargetRef.Name == d.Name {
			found = true
		}
	}
	if !found {
		t.Error("no HorizontalPodAutoscaler scales the predictor")
	}
}

// TestJobConfig: the job ConfigMap's spec parses and the schedule file
// loads; job.yaml's keys are checked as flags by
// TestProbesReachRealEndpoints, which starts shards with them.
func TestJobConfig(t *testing.T) {
	m := loadAll(t)
	etc := t.TempDir()
	writeConfigMaps(t, m, etc)
	for _, cm := range m.configMaps {
		if s, ok := cm.Data["spec.yaml"]; ok {
			if _, err := feature.Parse([]byte(s)); err != nil {
				t.Errorf("ConfigMap %s spec.yaml: %v", cm.Name, err)
			}
		}
	}
	if _, err := schedule.Load(filepath.Join(etc, "schedule", "schedule.yaml")); err != nil {
		t.Errorf("ConfigMap lakestream-schedule: %v", err)
	}
}

// buildBinary compiles a command of the module into dir.
func buildBinary(t *testing.T, dir, name string) string {
	t.Helper()
	out := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-o", out, "../../cmd/"+name)
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, b)
	}
	return out
}

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs bin with the container's args, where every address flag's port
// is moved to a free loopback port and /etc/lakestream is etc; it returns
// the port map (container port → local port). The process is killed at
// cleanup.
func start(t *testing.T, bin string, c corev1.Container, env []string, etc string) map[int32]int {
	t.Helper()
	return startWith(t, bin, c.Args, env, etc)
}

// startWith is start with the container's args given (some rewritten).
func startWith(t *testing.T, bin string, cargs []string, env []string, etc string) map[int32]int {
	t.Helper()
	ports := map[int32]int{}
	var args []string
	for _, a := range cargs {
		for _, f := range []string{"listen", "metrics-listen"} {
			if v, ok := strings.CutPrefix(a, "--"+f+"="); ok {
				p := freePort(t)
				ports[portOf(t, v)] = p
				a = fmt.Sprintf("--%s=127.0.0.1:%d", f, p)
			}
		}
		a = strings.ReplaceAll(a, "/etc/lakestream", etc)
		a = strings.ReplaceAll(a, "$(SHARD_INDEX)", "0")
		args = append(args, a)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = append(os.Environ(), env...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		_ = cmd.Wait()
		if t.Failed() {
			t.Logf("%s %v:\n%s", filepath.Base(bin), args, out.String())
		}
	})
	return ports
}

// TestProbesReachRealEndpoints starts the real trainer ps (shard 0 of every
// shard StatefulSet, with the job ConfigMap's files), predictor, trainer
// schedule serve and trainer stream with the manifests' arguments on free
// loopback ports (the stream jobs on a fresh topic of the real Kafka), and
// checks that what each probe targets answers: a TCP connection on the
// shard's port, gRPC health (NOT_SERVING until a model exists, but an
// answer) and /metrics on the predictor's ports, every HTTP probe of the
// scheduler and the stream trainer. Stream workers serve nothing (no
// probe): their flags are parsed by trainer worker.
func TestProbesReachRealEndpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and runs the trainer and predictor binaries")
	}
	m := loadAll(t)
	dir := t.TempDir()
	// The ConfigMaps the pods mount under /etc/lakestream, with that
	// folder moved to etc.
	etc := filepath.Join(dir, "etc")
	writeConfigMaps(t, m, etc)
	lakeDir := filepath.Join(dir, "lake")
	if err := os.MkdirAll(lakeDir, 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"LAKESTREAM_LAKE=" + lakeDir, "LAKESTREAM_KAFKA_BROKERS="}
	trainer, predictor := buildBinary(t, dir, "trainer"), buildBinary(t, dir, "predictor")
	// A small quickstart lake: the clicks table job.yaml's spec and days
	// describe, so shard 0 (with --output) can plan the job's data and the
	// scheduler finds it.
	if out, err := exec.Command(trainer, "quickstart", "--lake", lakeDir, "--rows", "20000", "--epochs", "1", "--hash-bits", "12").CombinedOutput(); err != nil {
		t.Fatalf("trainer quickstart: %v\n%s", err, out)
	}
	// The stream jobs' topic (the manifests' --topic=clicks) is a fresh
	// 4-partition topic of the real Kafka with its dead-letter topic.
	var streamEnv []string
	var topic string
	streamArgs := func(args []string) []string {
		if topic == "" {
			brokers := kafkatest.Brokers(t)
			topic = kafkatest.Topic(t, brokers, 4, nil)
			createTopic(t, brokers, topic+".dead-letters")
			streamEnv = []string{"LAKESTREAM_LAKE=" + lakeDir, "LAKESTREAM_KAFKA_BROKERS=" + strings.Join(brokers, ",")}
		}
		out := slices.Clone(args)
		for i, a := range out {
			if strings.HasPrefix(a, "--topic=") {
				out[i] = "--topic=" + topic
			}
		}
		return out
	}
	deadline := time.Now().Add(time.Minute)
	for _, sts := range m.statefulSets {
		c := sts.Spec.Template.Spec.Containers[0]
		if c.Args[0] != "ps" {
			// Workers serve nothing and have no probe; their flags
			// must still be the binary's.
			checkFlags(t, trainer, "StatefulSet "+sts.Name, c.Args)
			continue
		}
		args, penv := c.Args, env
		if _, ok := flagValue(c.Args, "topic"); ok {
			args, penv = streamArgs(args), streamEnv
		}
		ports := startWith(t, trainer, args, penv, etc)
		p := c.ReadinessProbe.TCPSocket.Port
		addr := fmt.Sprintf("127.0.0.1:%d", ports[resolvePort(t, "ps readiness", sts.Spec.Template.Spec, p).ContainerPort])
		for {
			conn, err := net.DialTimeout("tcp", addr, time.Second)
			if err == nil {
				conn.Close()
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("StatefulSet %s readiness: %v", sts.Name, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
	}
	for _, d := range m.deployments {
		if d.Name != "predictor" {
			continue
		}
		c := d.Spec.Template.Spec.Containers[0]
		ports := start(t, predictor, c, env, etc)
		grpcAddr := fmt.Sprintf("127.0.0.1:%d", ports[c.ReadinessProbe.GRPC.Port])
		metricsPort := resolvePort(t, "liveness", d.Spec.Template.Spec, c.LivenessProbe.HTTPGet.Port).ContainerPort
		metricsURL := fmt.Sprintf("http://127.0.0.1:%d%s", ports[metricsPort], c.LivenessProbe.HTTPGet.Path)
		conn, err := grpc.NewClient(grpcAddr, grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		for {
			ctx, cancel := context.WithTimeout(context.Background(), time.Second)
			resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{})
			cancel()
			if err == nil {
				t.Logf("predictor health: %v", resp.Status)
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("predictor readiness (gRPC health on %s): %v", grpcAddr, err)
			}
			time.Sleep(100 * time.Millisecond)
		}
		resp, err := http.Get(metricsURL)
		if err != nil {
			t.Fatalf("predictor liveness %s: %v", metricsURL, err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("predictor liveness %s: %s", metricsURL, resp.Status)
		}
	}
	for _, d := range m.deployments {
		if d.Name != "scheduler" && d.Name != "stream-trainer" {
			continue
		}
		c := d.Spec.Template.Spec.Containers[0]
		args, penv := c.Args, env
		if d.Name == "stream-trainer" {
			args, penv = streamArgs(args), streamEnv
		}
		ports := startWith(t, trainer, args, penv, etc)
		probes := map[string]*corev1.Probe{"liveness": c.LivenessProbe, "readiness": c.ReadinessProbe, "startup": c.StartupProbe}
		for _, kind := range []string{"liveness", "readiness", "startup"} {
			pr := probes[kind]
			if pr == nil {
				if kind == "liveness" {
					t.Errorf("Deployment %s has no liveness probe", d.Name)
				}
				continue
			}
			if pr.HTTPGet == nil {
				t.Errorf("Deployment %s: %s probe is not an HTTP GET", d.Name, kind)
				continue
			}
			p := resolvePort(t, d.Name+" "+kind, d.Spec.Template.Spec, pr.HTTPGet.Port).ContainerPort
			url := fmt.Sprintf("http://127.0.0.1:%d%s", ports[p], pr.HTTPGet.Path)
			for {
				resp, err := http.Get(url)
				if err == nil {
					resp.Body.Close()
					if resp.StatusCode != http.StatusOK {
						t.Errorf("Deployment %s %s %s: %s", d.Name, kind, url, resp.Status)
					}
					break
				}
				if time.Now().After(deadline) {
					t.Fatalf("Deployment %s %s %s: %v", d.Name, kind, url, err)
				}
				time.Sleep(100 * time.Millisecond)
			}
		}
	}
}

// createTopic creates a one-partition topic and deletes it at cleanup.
func createTopic(t *testing.T, brokers []string, name string) {
	t.Helper()
	adm := kafkatest.Admin(t, brokers)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	resp, err := adm.CreateTopic(ctx, 1, 1, nil, name)
	if err == nil {
		err = resp.Err
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", name, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = adm.DeleteTopics(ctx, name)
	})
}

// checkFlags runs the binary's subcommand with args and -h last: every
// flag before it is parsed, so an unknown one fails instead of printing
// the usage.
func checkFlags(t *testing.T, bin, what string, args []string) {
	t.Helper()
	var a []string
	for _, v := range args {
		a = append(a, strings.ReplaceAll(v, "$(WORKER_INDEX)", "0"))
	}
	out, _ := exec.Command(bin, append(a, "-h")...).CombinedOutput()
	if !bytes.HasPrefix(out, []byte("Usage: trainer "+args[0])) {
		t.Errorf("%s: trainer %v: %s", what, args, out)
	}
}

// writeConfigMaps writes every ConfigMap a pod mounts into etc/<folder>
// (the folder of its mount under /etc/lakestream), with /etc/lakestream in
// the files replaced by etc.
func writeConfigMaps(t *testing.T, m *manifests, etc string) {
	t.Helper()
	for _, w := range m.workloads() {
		vols := map[string]string{} // volume → ConfigMap
		for _, v := range w.pod.Spec.Volumes {
			if v.ConfigMap != nil {
				vols[v.Name] = v.ConfigMap.Name
			}
		}
		for _, vm := range w.pod.Spec.Containers[0].VolumeMounts {
			rel, ok := strings.CutPrefix(vm.MountPath, "/etc/lakestream/")
			if !ok || vols[vm.Name] == "" {
				continue
			}
			for _, cm := range m.configMaps {
				if cm.Name != vols[vm.Name] {
					continue
				}
				dir := filepath.Join(etc, rel)
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				for k, v := range cm.Data {
					v = strings.ReplaceAll(v, "/etc/lakestream", etc)
					if err := os.WriteFile(filepath.Join(dir, k), []byte(v), 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		}
	}
}

// TestCronJobsRunScheduledJobs: each CronJob runs "trainer schedule run JOB
// --interval=latest" on the schedule file its pod mounts, JOB is a job of
// that file, and the CronJob fires on the job's cron in the job's time zone
// (so the latest closed interval is the one that just ended); it never
// overlaps itself, and fails at once on the exit codes a retry cannot
// change (2: bad input, 3: the gate refused the version).
func TestCronJobsRunScheduledJobs(t *testing.T) {
	m := loadBase(t)
	if len(m.cronJobs) == 0 {
		t.Fatal("no CronJob in the base: scheduled retraining by CronJob is gone")
	}
	etc := t.TempDir()
	writeConfigMaps(t, m, etc)
	for _, cj := range m.cronJobs {
		spec := cj.Spec.JobTemplate.Spec
		pod := spec.Template.Spec
		if len(pod.Containers) != 1 {
			t.Fatalf("CronJob %s: %d containers, want 1", cj.Name, len(pod.Containers))
		}
		c := pod.Containers[0]
		if len(c.Args) < 3 || c.Args[0] != "schedule" || c.Args[1] != "run" {
			t.Fatalf("CronJob %s args %v: want schedule run JOB …", cj.Name, c.Args)
		}
		if v, ok := flagValue(c.Args, "interval"); !ok || v != "latest" {
			t.Errorf("CronJob %s: --interval %q, want latest (a CronJob cannot compute an interval's id)", cj.Name, v)
		}
		file, ok := flagValue(c.Args, "schedule")
		if !ok {
			t.Fatalf("CronJob %s: no --schedule", cj.Name)
		}
		f, err := schedule.Load(strings.Replace(file, "/etc/lakestream", etc, 1))
		if err != nil {
			t.Fatalf("CronJob %s --schedule %s: %v", cj.Name, file, err)
		}
		j, err := f.Job(c.Args[2])
		if err != nil {
			t.Fatalf("CronJob %s: %v", cj.Name, err)
		}
		if cj.Spec.Schedule != j.Schedule {
			t.Errorf("CronJob %s fires on %q, job %s on %q", cj.Name, cj.Spec.Schedule, j.Name, j.Schedule)
		}
		utc := func(z string) bool { return z == "" || z == "UTC" || z == "Etc/UTC" }
		if tz := cj.Spec.TimeZone; tz == nil || (*tz != j.Timezone && !(utc(*tz) && utc(j.Timezone))) {
			t.Errorf("CronJob %s: time zone %v (nil: the controller's), job %s's is %q", cj.Name, deref(tz), j.Name, j.Timezone)
		}
		if cj.Spec.ConcurrencyPolicy != batchv1.ForbidConcurrent {
			t.Errorf("CronJob %s: concurrencyPolicy %q, want Forbid", cj.Name, cj.Spec.ConcurrencyPolicy)
		}
		if pod.RestartPolicy != corev1.RestartPolicyNever {
			t.Errorf("CronJob %s: restartPolicy %q, want Never (podFailurePolicy needs it)", cj.Name, pod.RestartPolicy)
		}
		var fatal []int32
		if spec.PodFailurePolicy != nil {
			for _, r := range spec.PodFailurePolicy.Rules {
				if e := r.OnExitCodes; r.Action == batchv1.PodFailurePolicyActionFailJob && e != nil && e.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn &&
					(e.ContainerName == nil || *e.ContainerName == c.Name) {
					fatal = append(fatal, e.Values...)
				}
			}
		}
		slices.Sort(fatal)
		if !slices.Equal(fatal, []int32{2, 3}) {
			t.Errorf("CronJob %s fails its Job at once on exit codes %v, want [2 3] (bad input, gate refused)", cj.Name, fatal)
		}
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}
