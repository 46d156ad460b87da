package kubernetes

import (
	"bytes"
	"flag"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"

	"github.com/meshtelemetry/telemetry/capacity"
	"github.com/meshtelemetry/telemetry/common/config"
	"github.com/meshtelemetry/telemetry/common/testenv"
)

var update = flag.Bool("update", false, "rewrite testdata/<overlay>.golden.yaml from the current manifests")

func TestMain(m *testing.M) { testenv.Main(m, false) }

// render builds and decodes one overlay.
func render(t *testing.T, overlay string) ([]byte, []Object) {
	t.Helper()
	out, err := Build(filepath.Join("overlays", overlay))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Decode(out)
	if err != nil {
		t.Fatalf("%s: %v", overlay, err)
	}
	return out, objs
}

// overlayNames are the directories of overlays/.
func overlayNames(t *testing.T) []string {
	t.Helper()
	es, err := os.ReadDir("overlays")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		if e.IsDir() {
			names = append(names, e.Name())
		}
	}
	if len(names) < 2 {
		t.Fatalf("overlays: %v, want small and large at least", names)
	}
	return names
}

func find[T any](objs []Object, kind, name string) *T {
	for _, o := range objs {
		if o.Kind == kind && o.Name == name {
			if v, ok := o.Value.(*T); ok {
				return v
			}
		}
	}
	return nil
}

// TestOverlaysBuild: every overlay builds with kustomize's Go API, every
// object decodes strictly into its type, everything lands in one
// namespace, and the render equals testdata/<overlay>.golden.yaml
// (go test ./deploy/kubernetes -update rewrites it).
func TestOverlaysBuild(t *testing.T) {
	for _, name := range overlayNames(t) {
		t.Run(name, func(t *testing.T) {
			out, objs := render(t, name)
			kinds := map[string]int{}
			for _, o := range objs {
				kinds[o.Kind]++
				if o.Namespace != "telemetry" {
					t.Errorf("%s %s: namespace %q, want telemetry", o.Kind, o.Name, o.Namespace)
				}
			}
			for _, k := range []string{"StatefulSet", "Deployment", "CronJob", "Job", "ConfigMap", "PodDisruptionBudget", "NetworkPolicy", "ScaledObject", "Service"} {
				if kinds[k] == 0 {
					t.Errorf("no %s in the render", k)
				}
			}
			golden := filepath.Join("testdata", name+".golden.yaml")
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run go test ./deploy/kubernetes -update)", err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("the render of overlays/%s differs from %s; check the change and run go test ./deploy/kubernetes -update", name, golden)
			}
		})
	}
}

// TestDecodeIsStrict: a misspelt field, a field of the wrong type, a
// field KEDA's ScaledObject does not have and an unknown kind are errors.
func TestDecodeIsStrict(t *testing.T) {
	for name, doc := range map[string]string{
		"misspelt field": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replica: 2}\n",
		"wrong type":     "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: x}\nspec: {replicas: two}\n",
		"keda field":     "apiVersion: keda.sh/v1alpha1\nkind: ScaledObject\nmetadata: {name: x}\nspec: {scaleTargetRef: {name: x}, minReplicas: 1, triggers: []}\n",
		"argocd field":   "apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata: {name: x}\nspec: {project: default, destination: {}, source: {repoURL: x, pth: y}}\n",
		"unknown kind":   "apiVersion: example.com/v1\nkind: Widget\nmetadata: {name: x}\n",
	} {
		if _, err := Decode([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		}
	}
}

// podSpecs returns the pod templates of the workloads: name → pod spec and
// the name of a pod it makes.
type workload struct {
	kind, name, pod string
	spec            *corev1.PodSpec
}

func workloads(objs []Object) []workload {
	var ws []workload
	for _, o := range objs {
		switch v := o.Value.(type) {
		case *appsv1.StatefulSet:
			ws = append(ws, workload{o.Kind, o.Name, o.Name + "-0", &v.Spec.Template.Spec})
		case *appsv1.Deployment:
			ws = append(ws, workload{o.Kind, o.Name, o.Name + "-5d8f7c9b6d-x7k2p", &v.Spec.Template.Spec})
		case *batchv1.Job:
			ws = append(ws, workload{o.Kind, o.Name, o.Name + "-q8w4z", &v.Spec.Template.Spec})
		case *batchv1.CronJob:
			ws = append(ws, workload{o.Kind, o.Name, o.Name + "-29388420-q8w4z", &v.Spec.JobTemplate.Spec.Template.Spec})
		}
	}
	return ws
}

// TestOverlaysMatchCapacity: each overlay's replicas, requests and
// limits, KEDA bounds, collector member count and Kafka partitions are
// what the capacity model computes for its site.
func TestOverlaysMatchCapacity(t *testing.T) {
	for _, name := range []string{"small", "large"} {
		t.Run(name, func(t *testing.T) {
			plan, err := capacity.ForSite(name)
			if err != nil {
				t.Fatal(err)
			}
			_, objs := render(t, name)
			checkPod := func(what string, spec *corev1.PodSpec, st capacity.Stage) {
				c := spec.Containers[0]
				for res, want := range map[string]string{"requests.cpu": st.CPURequest(), "requests.memory": st.MemoryRequest(), "limits.memory": st.MemoryRequest()} {
					var got resource.Quantity
					switch res {
					case "requests.cpu":
						got = c.Resources.Requests[corev1.ResourceCPU]
					case "requests.memory":
						got = c.Resources.Requests[corev1.ResourceMemory]
					case "limits.memory":
						got = c.Resources.Limits[corev1.ResourceMemory]
					}
					if got.Cmp(resource.MustParse(want)) != 0 {
						t.Errorf("%s: %s %s, the capacity model says %s (telemetry capacity --site %s)", what, res, got.String(), want, name)
					}
				}
			}
			ss := find[appsv1.StatefulSet](objs, "StatefulSet", "telemetry-collector")
			if ss == nil {
				t.Fatal("no StatefulSet telemetry-collector")
			}
			if got := *ss.Spec.Replicas; int(got) != plan.Collectors.Pods {
				t.Errorf("collector replicas %d, the capacity model says %d", got, plan.Collectors.Pods)
			}
			members := ""
			for _, e := range ss.Spec.Template.Spec.Containers[0].Env {
				if e.Name == "TELEMETRY_COLLECT_MEMBER_COUNT" {
					members = e.Value
				}
			}
			if members != strconv.Itoa(int(*ss.Spec.Replicas)) {
				t.Errorf("collector TELEMETRY_COLLECT_MEMBER_COUNT %q, want the replicas %d", members, *ss.Spec.Replicas)
			}
			checkPod("collector", &ss.Spec.Template.Spec, plan.Collectors)
			for _, st := range []capacity.Stage{plan.Processors, plan.Sinks, plan.Remediation} {
				n := "telemetry-" + st.Name
				d := find[appsv1.Deployment](objs, "Deployment", n)
				so := find[ScaledObject](objs, "ScaledObject", n)
				if d == nil || so == nil {
					t.Fatalf("no Deployment and ScaledObject %s", n)
				}
				if int(*d.Spec.Replicas) != st.Pods {
					t.Errorf("%s replicas %d, the capacity model says %d", n, *d.Spec.Replicas, st.Pods)
				}
				checkPod(n, &d.Spec.Template.Spec, st)
				if so.Spec.MinReplicaCount == nil || so.Spec.MaxReplicaCount == nil ||
					int(*so.Spec.MinReplicaCount) != st.Pods || int(*so.Spec.MaxReplicaCount) != st.MaxPods {
					t.Errorf("ScaledObject %s: bounds %v..%v, the capacity model says %d..%d", n, so.Spec.MinReplicaCount, so.Spec.MaxReplicaCount, st.Pods, st.MaxPods)
				}
				if so.Spec.ScaleTargetRef.Name != n {
					t.Errorf("ScaledObject %s scales %q", n, so.Spec.ScaleTargetRef.Name)
				}
				if *so.Spec.MaxReplicaCount > int32(plan.KafkaPartitions) {
					t.Errorf("ScaledObject %s may scale past the %d partitions", n, plan.KafkaPartitions)
				}
				for _, tr := range so.Spec.Triggers {
					for _, k := range []string{"bootstrapServers", "consumerGroup", "topic", "lagThreshold"} {
						if tr.Type != "kafka" || tr.Metadata[k] == "" {
							t.Errorf("ScaledObject %s: trigger %s without %s", n, tr.Type, k)
						}
					}
					if _, err := strconv.Atoi(tr.Metadata["lagThreshold"]); err != nil {
						t.Errorf("ScaledObject %s: lagThreshold %q is not a number", n, tr.Metadata["lagThreshold"])
					}
				}
			}
			env := envConfigMap(t, objs)
			if got := env["TELEMETRY_KAFKA_PARTITIONS"]; got != strconv.Itoa(plan.KafkaPartitions) {
				t.Errorf("TELEMETRY_KAFKA_PARTITIONS %q, the capacity model says %d", got, plan.KafkaPartitions)
			}
		})
	}
}

func envConfigMap(t *testing.T, objs []Object) map[string]string {
	t.Helper()
	for _, o := range objs {
		if cm, ok := o.Value.(*corev1.ConfigMap); ok && strings.HasPrefix(o.Name, "telemetry-env") {
			return cm.Data
		}
	}
	t.Fatal("no telemetry-env ConfigMap")
	return nil
}

// TestProbesAndPorts: every long-running pod serves /healthz (liveness)
// and /readyz (readiness) on the port of http.listen.
func TestProbesAndPorts(t *testing.T) {
	for _, name := range overlayNames(t) {
		_, objs := render(t, name)
		port := httpPort(t, objs)
		for _, w := range workloads(objs) {
			if w.kind != "StatefulSet" && w.kind != "Deployment" {
				continue
			}
			c := w.spec.Containers[0]
			if len(c.Ports) == 0 || c.Ports[0].Name != "http" || int(c.Ports[0].ContainerPort) != port {
				t.Errorf("%s/%s: port %v, want http %d (http.listen)", name, w.name, c.Ports, port)
			}
			for probe, p := range map[string]*corev1.Probe{"/healthz": c.LivenessProbe, "/readyz": c.ReadinessProbe} {
				if p == nil || p.HTTPGet == nil || p.HTTPGet.Path != probe || p.HTTPGet.Port.String() != "http" {
					t.Errorf("%s/%s: no %s probe on port http", name, w.name, probe)
				}
			}
		}
	}
}

func httpPort(t *testing.T, objs []Object) int {
	t.Helper()
	for _, o := range objs {
		if cm, ok := o.Value.(*corev1.ConfigMap); ok && cm.Data["telemetry.yaml"] != "" {
			var c struct {
				HTTP struct {
					Listen string `yaml:"listen"`
				} `yaml:"http"`
			}
			if err := yaml.Unmarshal([]byte(cm.Data["telemetry.yaml"]), &c); err != nil {
				t.Fatal(err)
			}
			_, p, err := net.SplitHostPort(c.HTTP.Listen)
			if err != nil {
				t.Fatalf("http.listen %q: %v", c.HTTP.Listen, err)
			}
			n, _ := strconv.Atoi(p)
			return n
		}
	}
	t.Fatal("no ConfigMap with telemetry.yaml")
	return 0
}

// TestNoSecretsInConfigMaps: no ConfigMap holds a credential (a key named
// like one, in a file or as a variable, with a value other than a
// ${VARIABLE} reference); every variable named like a credential comes
// from the Secret; every Secret key used is in secret.example.yaml, which
// decodes strictly and is in no render.
func TestNoSecretsInConfigMaps(t *testing.T) {
	exb, err := os.ReadFile("secret.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	ex, err := Decode(exb)
	if err != nil || len(ex) != 1 {
		t.Fatalf("secret.example.yaml: %v (%d objects)", err, len(ex))
	}
	example := ex[0].Value.(*corev1.Secret)
	for _, name := range overlayNames(t) {
		_, objs := render(t, name)
		for _, o := range objs {
			switch v := o.Value.(type) {
			case *corev1.Secret:
				t.Errorf("%s: Secret %s in the render: credentials stay out of git (secret.example.yaml)", name, o.Name)
			case *corev1.ConfigMap:
				for k, val := range v.Data {
					if config.IsSecret(strings.ToLower(k)) && val != "" {
						t.Errorf("%s: ConfigMap %s sets %s", name, o.Name, k)
					}
					if strings.HasSuffix(k, ".yaml") {
						var n yaml.Node
						if err := yaml.Unmarshal([]byte(val), &n); err != nil {
							t.Fatalf("%s: ConfigMap %s %s: %v", name, o.Name, k, err)
						}
						for _, leak := range secretValues(&n, "") {
							t.Errorf("%s: ConfigMap %s %s: %s has a value: use the Secret", name, o.Name, k, leak)
						}
					}
				}
			}
		}
		for _, w := range workloads(objs) {
			for _, c := range w.spec.Containers {
				for _, e := range c.Env {
					if config.IsSecret(strings.ToLower(e.Name)) || strings.HasSuffix(e.Name, "_TOKEN") || strings.HasSuffix(e.Name, "_SECRET") {
						if e.ValueFrom == nil || e.ValueFrom.SecretKeyRef == nil {
							t.Errorf("%s: %s %s: %s does not come from a Secret", name, w.kind, w.name, e.Name)
						}
					}
					if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
						ref := e.ValueFrom.SecretKeyRef
						if _, ok := example.StringData[ref.Key]; !ok || ref.Name != example.Name {
							t.Errorf("%s: %s %s: %s reads %s/%s, not in secret.example.yaml", name, w.kind, w.name, e.Name, ref.Name, ref.Key)
						}
					}
				}
			}
		}
	}
}

// secretValues returns the paths of the keys named like credentials that
// have a value (a ${VAR} reference is not one).
func secretValues(n *yaml.Node, path string) []string {
	var out []string
	switch n.Kind {
	case yaml.DocumentNode, yaml.SequenceNode:
		for i, c := range n.Content {
			out = append(out, secretValues(c, fmt.Sprintf("%s[%d]", path, i))...)
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			k, v := n.Content[i].Value, n.Content[i+1]
			p := strings.TrimPrefix(path+"."+k, ".")
			if v.Kind == yaml.ScalarNode && config.IsSecret(k) && v.Value != "" && !strings.Contains(v.Value, "${") {
				out = append(out, p)
			}
			out = append(out, secretValues(v, p)...)
		}
	}
	return out
}

// TestArgoCDApplication: the Application decodes strictly and deploys an
// overlay of this directory into the namespace the overlays use.
func TestArgoCDApplication(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("argocd", "application.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	objs, err := Decode(b)
	if err != nil || len(objs) != 1 {
		t.Fatalf("argocd/application.yaml: %v (%d objects)", err, len(objs))
	}
	app := objs[0].Value.(*Application)
	const prefix = "deploy/kubernetes/"
	if app.Spec.Source == nil || !strings.HasPrefix(app.Spec.Source.Path, prefix+"overlays/") {
		t.Fatalf("source %+v: want a path under %soverlays/", app.Spec.Source, prefix)
	}
	overlay := strings.TrimPrefix(app.Spec.Source.Path, prefix)
	if _, err := Build(overlay); err != nil {
		t.Fatalf("the Application's overlay: %v", err)
	}
	if app.Spec.Destination.Namespace != "telemetry" {
		t.Errorf("destination namespace %q, the overlays use telemetry", app.Spec.Destination.Namespace)
	}
}

// TestContainersAreValidInvocations: every container's arguments are a
// `telemetry` command line that parses (run with --help), and the
// configuration each container gets (the rendered ConfigMaps at their
// mount paths, the environment of the manifest: ConfigMap variables, the
// pod's name, the memory limit, placeholders for the Secret's keys)
// passes `telemetry config check`.
func TestContainersAreValidInvocations(t *testing.T) {
	bin := testenv.Binary(t)
	for _, name := range overlayNames(t) {
		_, objs := render(t, name)
		cms := map[string]*corev1.ConfigMap{}
		for _, o := range objs {
			if cm, ok := o.Value.(*corev1.ConfigMap); ok {
				cms[o.Name] = cm
			}
		}
		for _, w := range workloads(objs) {
			for _, c := range w.spec.Containers {
				t.Run(name+"/"+w.name+"/"+c.Name, func(t *testing.T) {
					root := t.TempDir()
					rewrite := func(s string) string {
						for _, m := range c.VolumeMounts {
							s = strings.ReplaceAll(s, m.MountPath, filepath.Join(root, m.MountPath))
						}
						return s
					}
					// The pod's file system: ConfigMaps at their mount paths.
					for _, m := range c.VolumeMounts {
						dir := filepath.Join(root, m.MountPath)
						if err := os.MkdirAll(dir, 0o755); err != nil {
							t.Fatal(err)
						}
						for _, v := range w.spec.Volumes {
							if v.Name != m.Name || v.ConfigMap == nil {
								continue
							}
							cm := cms[v.ConfigMap.Name]
							if cm == nil {
								t.Fatalf("volume %s: no ConfigMap %s in the render", v.Name, v.ConfigMap.Name)
							}
							for k, data := range cm.Data {
								if err := os.WriteFile(filepath.Join(dir, k), []byte(rewrite(data)), 0o644); err != nil {
									t.Fatal(err)
								}
							}
						}
					}
					env := []string{"HOME=" + root}
					for _, ef := range c.EnvFrom {
						if ef.ConfigMapRef == nil || cms[ef.ConfigMapRef.Name] == nil {
							t.Fatalf("envFrom %+v: no such ConfigMap in the render", ef)
						}
						for k, v := range cms[ef.ConfigMapRef.Name].Data {
							env = append(env, k+"="+rewrite(v))
						}
					}
					for _, e := range c.Env {
						v := rewrite(e.Value)
						if f := e.ValueFrom; f != nil {
							switch {
							case f.FieldRef != nil && f.FieldRef.FieldPath == "metadata.name":
								v = w.pod
							case f.ResourceFieldRef != nil && f.ResourceFieldRef.Resource == "limits.memory":
								q := c.Resources.Limits[corev1.ResourceMemory]
								v = strconv.FormatInt(q.Value(), 10)
							case f.SecretKeyRef != nil:
								v = "placeholder-" + f.SecretKeyRef.Key
							default:
								t.Fatalf("env %s: valueFrom %+v not handled by the test", e.Name, f)
							}
						}
						env = append(env, e.Name+"="+v)
					}
					args := make([]string, len(c.Args))
					for i, a := range c.Args {
						args[i] = rewrite(a)
					}
					if len(c.Command) > 0 {
						t.Fatalf("command %v overrides the image's entrypoint (telemetry)", c.Command)
					}
					run := func(args ...string) string {
						cmd := exec.Command(bin, args...)
						cmd.Env, cmd.Dir = env, root
						out, err := cmd.CombinedOutput()
						if err != nil {
							t.Fatalf("telemetry %s: %v\n%s", strings.Join(args, " "), err, out)
						}
						return string(out)
					}
					run(append(args, "--help")...)
					cfg := ""
					for i, a := range args {
						if a == "--config" && i+1 < len(args) {
							cfg = args[i+1]
						}
					}
					if cfg == "" {
						t.Fatalf("args %v: no --config", c.Args)
					}
					if out := run("config", "check", "--config", cfg); !strings.Contains(out, "configuration ok") {
						t.Fatalf("config check: %s", out)
					}
				})
			}
		}
	}
}

// TestRulesMatchExample: the rules the base ships are the repository's
// example rules (deploy/remediation/rules.example.yaml), not a copy that
// drifts from them.
func TestRulesMatchExample(t *testing.T) {
	got, err := os.ReadFile(filepath.Join("base", "config", "rules.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := os.ReadFile(filepath.Join("..", "remediation", "rules.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Error("base/config/rules.yaml differs from deploy/remediation/rules.example.yaml: copy it again")
	}
}
