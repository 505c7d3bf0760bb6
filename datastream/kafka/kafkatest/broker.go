package kafkatest

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// EnvKafkaLibs names the folder of Apache Kafka's jars that
// deploy/local/up.sh installs; EnvKafkaLog4j its log4j configuration.
const (
	EnvKafkaLibs  = "LAKESTREAM_KAFKA_LIBS"
	EnvKafkaLog4j = "LAKESTREAM_KAFKA_LOG4J"
)

// Broker is a single-node KRaft Kafka broker of one test's own, started
// from the jars of deploy/local: a test that stops and restarts a broker
// (an outage) must not do it to the broker the rest of the suite shares.
// Stop and Start keep its data folder and ports, as a broker restarted in
// place would.
type Broker struct {
	t         testing.TB
	addr      string
	dir, libs string
	log4j     string

	mu   sync.Mutex
	cmd  *exec.Cmd
	done chan struct{}
}

// StartBroker formats a data folder in a temporary directory, starts a
// broker on free loopback ports and waits until it answers. Under -short
// (or without the jars from deploy/local/up.sh) the test is skipped, as in
// Brokers; otherwise a broker that does not start fails the test. The
// broker is killed when the test ends.
func StartBroker(t testing.TB) *Broker {
	t.Helper()
	if testing.Short() {
		t.Skip("kafkatest: a broker of the test's own is an integration test (skipped under -short)")
	}
	libs := os.Getenv(EnvKafkaLibs)
	if libs == "" {
		miss(t, EnvKafkaLibs+" is not set")
	}
	if _, err := exec.LookPath("java"); err != nil {
		miss(t, "java is not on PATH")
	}
	b := &Broker{t: t, dir: t.TempDir(), libs: libs, log4j: os.Getenv(EnvKafkaLog4j)}
	b.addr = freePort(t)
	controller := freePort(t)
	props := fmt.Sprintf(`process.roles=broker,controller
node.id=1
controller.quorum.voters=1@%[2]s
listeners=PLAINTEXT://%[1]s,CONTROLLER://%[2]s
advertised.listeners=PLAINTEXT://%[1]s
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
log.dirs=%[3]s
num.partitions=1
auto.create.topics.enable=false
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
`, b.addr, controller, filepath.Join(b.dir, "data"))
	if err := os.WriteFile(b.props(), []byte(props), 0o644); err != nil {
		t.Fatalf("kafkatest: %v", err)
	}
	var id [16]byte
	if _, err := rand.Read(id[:]); err != nil {
		t.Fatalf("kafkatest: cluster id: %v", err)
	}
	format := exec.Command("java", append(b.javaOpts(), "kafka.tools.StorageTool", "format",
		"-t", base64.RawURLEncoding.EncodeToString(id[:]), "-c", b.props())...)
	if out, err := format.CombinedOutput(); err != nil {
		t.Fatalf("kafkatest: format the broker's storage: %v\n%s", err, out)
	}
	t.Cleanup(func() { b.kill() })
	b.Start()
	return b
}

// Addr is the broker's host:port.
func (b *Broker) Addr() string { return b.addr }

func (b *Broker) props() string { return filepath.Join(b.dir, "server.properties") }

func (b *Broker) javaOpts() []string {
	opts := []string{"-Xms128m", "-Xmx512m", "-XX:+UseSerialGC"}
	if b.log4j != "" {
		opts = append(opts, "-Dlog4j.configuration=file:"+b.log4j)
	}
	return append(opts, "-cp", filepath.Join(b.libs, "*"))
}

// Start starts the broker (again) and waits up to two minutes until it
// lists itself; it fails the test otherwise.
func (b *Broker) Start() {
	b.t.Helper()
	b.mu.Lock()
	if b.cmd != nil {
		b.mu.Unlock()
		b.t.Fatal("kafkatest: broker already running")
	}
	logf, err := os.OpenFile(filepath.Join(b.dir, "broker.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		b.mu.Unlock()
		b.t.Fatalf("kafkatest: %v", err)
	}
	cmd := exec.Command("java", append(b.javaOpts(), "kafka.Kafka", b.props())...)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		logf.Close()
		b.mu.Unlock()
		b.t.Fatalf("kafkatest: start the broker: %v", err)
	}
	done := make(chan struct{})
	go func() { _ = cmd.Wait(); logf.Close(); close(done) }()
	b.cmd, b.done = cmd, done
	b.mu.Unlock()

	deadline := time.Now().Add(2 * time.Minute)
	for {
		if err := b.ping(); err == nil {
			return
		} else if time.Now().After(deadline) {
			b.t.Fatalf("kafkatest: the broker on %s did not answer within 2m: %v\n%s", b.addr, err, b.logTail())
		}
		select {
		case <-done:
			b.t.Fatalf("kafkatest: the broker on %s exited while starting:\n%s", b.addr, b.logTail())
		case <-time.After(500 * time.Millisecond):
		}
	}
}

// Stop shuts the broker down (SIGTERM, a controlled shutdown) and waits
// until the process has exited, killing it after a minute.
func (b *Broker) Stop() {
	b.t.Helper()
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd = nil
	b.mu.Unlock()
	if cmd == nil {
		b.t.Fatal("kafkatest: broker not running")
		return // Fatal does not return; staticcheck cannot know it of a testing.TB
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-done:
	case <-time.After(time.Minute):
		_ = cmd.Process.Kill()
		<-done
	}
}

func (b *Broker) kill() {
	b.mu.Lock()
	cmd, done := b.cmd, b.done
	b.cmd = nil
	b.mu.Unlock()
	if cmd != nil {
		_ = cmd.Process.Kill()
		<-done
	}
}

func (b *Broker) ping() error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_, err = kadm.NewClient(cl).ListBrokers(ctx)
	return err
}

func (b *Broker) logTail() string {
	raw, _ := os.ReadFile(filepath.Join(b.dir, "broker.log"))
	lines := strings.Split(strings.TrimSpace(string(raw)), "\n")
	return strings.Join(lines[max(0, len(lines)-30):], "\n")
}

// freePort returns a loopback host:port that was free a moment ago.
func freePort(t testing.TB) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("kafkatest: free port: %v", err)
	}
	defer ln.Close()
	return ln.Addr().String()
}
