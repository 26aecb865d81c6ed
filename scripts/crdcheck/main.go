// Command crdcheck reads Kubernetes objects of the Prometheus Operator's kinds, one JSON object
// a line on stdin, and decodes each strictly into the Operator's own Go types: a field the kind
// does not have, or a value of the wrong type, is an error. It prints one line per bad object
// and exits 1 if there was any (2 if the input could not be read).
//
// scripts/manifests.py builds and runs it for tests/test_deploy.py: the API server's CRD schema
// is generated from these types, and kubernetes-validate knows only the core kinds.
package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"

	monitoringv1 "github.com/prometheus-operator/prometheus-operator/pkg/apis/monitoring/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// kinds maps each apiVersion/kind this checker knows to a fresh object of its type.
var kinds = map[string]func() any{
	"monitoring.coreos.com/v1/ServiceMonitor": func() any { return &monitoringv1.ServiceMonitor{} },
	"monitoring.coreos.com/v1/PodMonitor":     func() any { return &monitoringv1.PodMonitor{} },
	"monitoring.coreos.com/v1/PrometheusRule": func() any { return &monitoringv1.PrometheusRule{} },
}

// check decodes one object: plain encoding/json, so that a number where the type has a string
// (an interval of 15 for "15s") is an error, as the API server's schema would make it.
func check(line []byte) error {
	var meta metav1.TypeMeta
	if err := json.Unmarshal(line, &meta); err != nil {
		return err
	}
	newObject, ok := kinds[meta.APIVersion+"/"+meta.Kind]
	if !ok {
		return fmt.Errorf("unknown kind %s/%s", meta.APIVersion, meta.Kind)
	}
	decoder := json.NewDecoder(bytes.NewReader(line))
	decoder.DisallowUnknownFields()
	return decoder.Decode(newObject())
}

func main() {
	scanner := bufio.NewScanner(os.Stdin)
	scanner.Buffer(make([]byte, 0, 1<<20), 16<<20)
	bad := 0
	for n := 1; scanner.Scan(); n++ {
		if err := check(scanner.Bytes()); err != nil {
			fmt.Printf("object %d: %v\n", n, err)
			bad++
		}
	}
	if err := scanner.Err(); err != nil {
		fmt.Fprintln(os.Stderr, "crdcheck:", err)
		os.Exit(2)
	}
	if bad > 0 {
		os.Exit(1)
	}
}
