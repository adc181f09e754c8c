package web_test

import (
	"context"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/cleanroom-oss/cleanroom"
)

// TestOperatorHealth: the operator's deployment health shows the process serving it, the worker
// processes seen through the periodic tasks and jobs they hold (one process's scheduler and job
// runner as one line), and each publisher's edge snapshot.
func TestOperatorHealth(t *testing.T) {
	w := newCohortWorld(t)
	ctx := context.Background()
	if _, err := w.acc.CreateOperator(ctx, "root@deploy.example", "Root", worldPassword); err != nil {
		t.Fatal(err)
	}
	op := w.signIn("root@deploy.example")
	_, html := op.get("/operator")
	if !strings.Contains(html, `id="health-no-workers"`) || !regexp.MustCompile(`Daily Planet</td><td><span class="muted">never</span>`).MatchString(html) {
		t.Errorf("before any work: want no worker and the Daily Planet's snapshot never published\n%s", between(html, `id="health"`, `</section>`))
	}
	now := time.Now()
	if ok, err := w.store.TakeLease(ctx, "edge-publish", "worker-7:4242:0a1b2c3d", now, now.Add(time.Hour)); err != nil || !ok {
		t.Fatalf("lease: %v %v", ok, err)
	}
	if err := w.store.EnqueueJob(ctx, &cleanroom.Job{Kind: "health.test", MaxAttempts: 1}, now); err != nil {
		t.Fatal(err)
	}
	if j, err := w.store.ClaimJob(ctx, "worker-7:4242:00ff", []string{"health.test"}, now, time.Hour); err != nil || j == nil {
		t.Fatalf("claim: %v %v", j, err)
	}
	if _, err := w.m.Activation.Publish(ctx, w.pub.ID); err != nil {
		t.Fatal(err)
	}
	_, html = op.get("/operator")
	procs := between(html, `<table id="health-processes">`, `</table>`)
	if !regexp.MustCompile(`<td><code>worker-7:4242</code></td><td><code>edge-publish</code></td><td>1</td>`).MatchString(procs) || strings.Count(procs, "<tr>") != 2 {
		t.Errorf("worker processes: want worker-7:4242 running edge-publish and one job\n%s", procs)
	}
	snaps := between(html, `<table id="health-snapshots">`, `</table>`)
	if !strings.Contains(snaps, "Daily Planet") || strings.Contains(snaps, "never") {
		t.Errorf("edge snapshots: want the Daily Planet's published\n%s", snaps)
	}
	if !strings.Contains(between(html, `id="health-roles"`, `</dd>`), "roles <code>api,worker,edge</code>") {
		t.Errorf("no roles of the serving process")
	}
}
