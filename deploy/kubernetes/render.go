// Package kubernetes renders the kustomize overlays of deploy/kubernetes
// with kustomize's Go API and decodes every object strictly into its
// Kubernetes type (k8s.io/api) or, for the custom resources, into the
// small mirrors of KEDA's ScaledObject and ArgoCD's Application below, so
// that a test checks the manifests offline, without a cluster.
package kubernetes

import (
	"bytes"
	"fmt"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/kustomize/api/krusty"
	"sigs.k8s.io/kustomize/kyaml/filesys"
	"sigs.k8s.io/yaml"
)

// Build runs kustomize on the kustomization in dir (as `kustomize build
// dir` does, load restrictions included) and returns the YAML stream.
func Build(dir string) ([]byte, error) {
	k := krusty.MakeKustomizer(krusty.MakeDefaultOptions())
	m, err := k.Run(filesys.MakeFsOnDisk(), dir)
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	out, err := m.AsYaml()
	if err != nil {
		return nil, fmt.Errorf("kustomize build %s: %w", dir, err)
	}
	return out, nil
}

// Object is one decoded manifest.
type Object struct {
	APIVersion, Kind, Namespace, Name string
	// Value is a pointer to the typed object (*appsv1.Deployment,
	// *ScaledObject, ...).
	Value any
}

// newObject returns a new typed object for apiVersion/kind, false for a
// kind the manifests do not use (an error).
func newObject(key string) (any, bool) {
	switch key {
	case "v1/ConfigMap":
		return new(corev1.ConfigMap), true
	case "v1/Secret":
		return new(corev1.Secret), true
	case "v1/Service":
		return new(corev1.Service), true
	case "v1/ServiceAccount":
		return new(corev1.ServiceAccount), true
	case "v1/PersistentVolumeClaim":
		return new(corev1.PersistentVolumeClaim), true
	case "apps/v1/Deployment":
		return new(appsv1.Deployment), true
	case "apps/v1/StatefulSet":
		return new(appsv1.StatefulSet), true
	case "batch/v1/Job":
		return new(batchv1.Job), true
	case "batch/v1/CronJob":
		return new(batchv1.CronJob), true
	case "policy/v1/PodDisruptionBudget":
		return new(policyv1.PodDisruptionBudget), true
	case "networking.k8s.io/v1/NetworkPolicy":
		return new(networkingv1.NetworkPolicy), true
	case "keda.sh/v1alpha1/ScaledObject":
		return new(ScaledObject), true
	case "argoproj.io/v1alpha1/Application":
		return new(Application), true
	}
	return nil, false
}

// Decode splits a YAML stream into documents and decodes each strictly
// into its type: an unknown kind, an unknown or misspelt field, or a
// value of the wrong type is an error naming the document.
func Decode(stream []byte) ([]Object, error) {
	var out []Object
	for i, doc := range splitDocuments(stream) {
		var tm metav1.TypeMeta
		var meta struct {
			Metadata metav1.ObjectMeta `json:"metadata"`
		}
		if err := yaml.Unmarshal(doc, &tm); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		if err := yaml.Unmarshal(doc, &meta); err != nil {
			return nil, fmt.Errorf("document %d: %w", i+1, err)
		}
		id := fmt.Sprintf("document %d (%s %s)", i+1, tm.Kind, meta.Metadata.Name)
		v, ok := newObject(tm.APIVersion + "/" + tm.Kind)
		if !ok {
			return nil, fmt.Errorf("%s: unknown kind %s/%s", id, tm.APIVersion, tm.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, v); err != nil {
			return nil, fmt.Errorf("%s: %w", id, err)
		}
		out = append(out, Object{APIVersion: tm.APIVersion, Kind: tm.Kind, Namespace: meta.Metadata.Namespace,
			Name: meta.Metadata.Name, Value: v})
	}
	return out, nil
}

// splitDocuments cuts a YAML stream at its "---" lines, leaving out empty
// documents (comments only).
func splitDocuments(stream []byte) [][]byte {
	var docs [][]byte
	var cur bytes.Buffer
	flush := func() {
		if hasContent(cur.String()) {
			docs = append(docs, bytes.Clone(cur.Bytes()))
		}
		cur.Reset()
	}
	for _, line := range strings.SplitAfter(string(stream), "\n") {
		if strings.TrimRight(line, " \r\n") == "---" {
			flush()
			continue
		}
		cur.WriteString(line)
	}
	flush()
	return docs
}

func hasContent(doc string) bool {
	for _, l := range strings.Split(doc, "\n") {
		if t := strings.TrimSpace(l); t != "" && !strings.HasPrefix(t, "#") {
			return true
		}
	}
	return false
}

// ScaledObject mirrors the fields of KEDA's ScaledObject
// (keda.sh/v1alpha1) that the manifests use; KEDA's own Go module is not a
// dependency. Strict decoding makes any other field an error.
type ScaledObject struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ScaledObjectSpec `json:"spec"`
}

// ScaledObjectSpec is KEDA's ScaledObjectSpec (the fields used).
type ScaledObjectSpec struct {
	ScaleTargetRef  ScaleTarget     `json:"scaleTargetRef"`
	PollingInterval *int32          `json:"pollingInterval,omitempty"`
	CooldownPeriod  *int32          `json:"cooldownPeriod,omitempty"`
	MinReplicaCount *int32          `json:"minReplicaCount,omitempty"`
	MaxReplicaCount *int32          `json:"maxReplicaCount,omitempty"`
	Triggers        []ScaleTriggers `json:"triggers"`
}

// ScaleTarget is KEDA's ScaleTarget: the workload scaled (a Deployment
// when APIVersion and Kind are empty).
type ScaleTarget struct {
	Name       string `json:"name"`
	APIVersion string `json:"apiVersion,omitempty"`
	Kind       string `json:"kind,omitempty"`
}

// ScaleTriggers is one KEDA trigger (type "kafka": its metadata keys are
// the Kafka scaler's).
type ScaleTriggers struct {
	Type              string             `json:"type"`
	Name              string             `json:"name,omitempty"`
	Metadata          map[string]string  `json:"metadata"`
	AuthenticationRef *AuthenticationRef `json:"authenticationRef,omitempty"`
	MetricType        string             `json:"metricType,omitempty"`
	UseCachedMetrics  bool               `json:"useCachedMetrics,omitempty"`
}

// AuthenticationRef names a KEDA TriggerAuthentication.
type AuthenticationRef struct {
	Name string `json:"name"`
	Kind string `json:"kind,omitempty"`
}

// Application mirrors the fields of ArgoCD's Application
// (argoproj.io/v1alpha1) that the manifests use.
type Application struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              ApplicationSpec `json:"spec"`
}

// ApplicationSpec is ArgoCD's ApplicationSpec (the fields used).
type ApplicationSpec struct {
	Project           string                      `json:"project"`
	Source            *ApplicationSource          `json:"source,omitempty"`
	Destination       ApplicationDestination      `json:"destination"`
	SyncPolicy        *SyncPolicy                 `json:"syncPolicy,omitempty"`
	IgnoreDifferences []ResourceIgnoreDifferences `json:"ignoreDifferences,omitempty"`
}

// ApplicationSource is where ArgoCD renders the manifests from.
type ApplicationSource struct {
	RepoURL        string `json:"repoURL"`
	Path           string `json:"path,omitempty"`
	TargetRevision string `json:"targetRevision,omitempty"`
}

// ApplicationDestination is the cluster and namespace deployed to.
type ApplicationDestination struct {
	Server    string `json:"server,omitempty"`
	Namespace string `json:"namespace,omitempty"`
	Name      string `json:"name,omitempty"`
}

// SyncPolicy is ArgoCD's SyncPolicy.
type SyncPolicy struct {
	Automated   *SyncPolicyAutomated `json:"automated,omitempty"`
	SyncOptions []string             `json:"syncOptions,omitempty"`
	Retry       *RetryStrategy       `json:"retry,omitempty"`
}

// SyncPolicyAutomated is ArgoCD's automated sync.
type SyncPolicyAutomated struct {
	Prune      bool `json:"prune,omitempty"`
	SelfHeal   bool `json:"selfHeal,omitempty"`
	AllowEmpty bool `json:"allowEmpty,omitempty"`
}

// RetryStrategy is ArgoCD's sync retry.
type RetryStrategy struct {
	Limit   int64    `json:"limit,omitempty"`
	Backoff *Backoff `json:"backoff,omitempty"`
}

// Backoff is ArgoCD's retry back-off.
type Backoff struct {
	Duration    string `json:"duration,omitempty"`
	Factor      *int64 `json:"factor,omitempty"`
	MaxDuration string `json:"maxDuration,omitempty"`
}

// ResourceIgnoreDifferences is ArgoCD's ignoreDifferences entry.
type ResourceIgnoreDifferences struct {
	Group        string   `json:"group,omitempty"`
	Kind         string   `json:"kind"`
	Name         string   `json:"name,omitempty"`
	Namespace    string   `json:"namespace,omitempty"`
	JSONPointers []string `json:"jsonPointers,omitempty"`
}
