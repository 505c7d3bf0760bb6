package model

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/lakestream/lakestream/internal/kafkaretry"
	"github.com/lakestream/lakestream/lake"
)

// Announcements: when an alias moves, the promoter writes one Announcement
// to the model topic, and predictors (serve.KafkaAnnouncements) load the
// version at once instead of at their next poll of the registry. The topic
// has one partition, which keeps announcements in order; the record key is
// the model name.

// DefaultModelTopic is the model topic's name unless configured otherwise.
const DefaultModelTopic = "lakestream.models"

// Announcement tells predictors that an alias of a model now designates a
// version. Promote's callers (trainer models promote and rollback) publish
// one with Announce on every move; predictors load the version as soon as
// they read it.
type Announcement struct {
	Name     string             `json:"name"`
	Alias    string             `json:"alias"`
	Version  int                `json:"version"`
	Location string             `json:"location,omitempty"`
	Checksum string             `json:"checksum,omitempty"`
	Metrics  map[string]float64 `json:"metrics,omitempty"`
	Time     time.Time          `json:"time"`
}

// NewAnnouncement describes rec, an alias record of model name read from
// store. lakeURI is the lake's address as predictors open it (a folder or
// s3://bucket/prefix); the location is the version's folder under it. The
// checksum is the SHA-256 of the version's manifest, which itself holds the
// checksum of every file.
func NewAnnouncement(ctx context.Context, store lake.Store, lakeURI, name string, rec AliasRecord) (Announcement, error) {
	key := VersionPrefix(name, rec.Version) + ManifestFile
	raw, err := lake.ReadAll(ctx, store, key)
	if err != nil {
		return Announcement{}, fmt.Errorf("announce %s@%s: %w", name, rec.Alias, err)
	}
	var mf Manifest
	if err := json.Unmarshal(raw, &mf); err != nil {
		return Announcement{}, fmt.Errorf("announce %s@%s: %s: %w", name, rec.Alias, key, err)
	}
	sum := sha256.Sum256(raw)
	return Announcement{
		Name: name, Alias: rec.Alias, Version: rec.Version,
		Location: strings.TrimSuffix(lakeURI, "/") + "/" + VersionPrefix(name, rec.Version),
		Checksum: "sha256:" + hex.EncodeToString(sum[:]),
		Metrics:  mf.Meta.Metrics,
		Time:     time.Now().UTC(),
	}, nil
}

// AnnounceConfig says where announcements go.
type AnnounceConfig struct {
	// Brokers are the Kafka seed brokers. Required.
	Brokers []string
	// Topic is the model topic; DefaultModelTopic by default. It is created
	// with one partition when it does not exist.
	Topic string
	// Timeout bounds the whole publication (topic creation and the
	// acknowledged write); 30s by default.
	Timeout time.Duration
}

// DefaultAnnounceConfig returns the defaults for brokers.
func DefaultAnnounceConfig(brokers ...string) AnnounceConfig {
	return AnnounceConfig{Brokers: brokers, Topic: DefaultModelTopic, Timeout: 30 * time.Second}
}

// Validate reports the first field that cannot work.
func (c AnnounceConfig) Validate() error {
	if len(c.Brokers) == 0 {
		return errors.New("announce: no Kafka brokers")
	}
	for _, b := range c.Brokers {
		if strings.TrimSpace(b) == "" {
			return fmt.Errorf("announce: empty broker address in %q", strings.Join(c.Brokers, ","))
		}
	}
	if c.Topic == "" {
		return errors.New("announce: no model topic")
	}
	if c.Timeout <= 0 {
		return fmt.Errorf("announce: timeout %v, want > 0", c.Timeout)
	}
	return nil
}

// Announce writes a to the model topic and returns once the broker has
// acknowledged it. It creates the topic first when it is missing. The
// alias has already moved when Announce is called, so a failure only
// delays predictors until their next poll of the registry; the error says
// so.
func Announce(ctx context.Context, cfg AnnounceConfig, a Announcement) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	msg, err := json.Marshal(a)
	if err != nil {
		return err
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(cfg.Brokers...), kgo.DefaultProduceTopic(cfg.Topic))
	if err != nil {
		return fmt.Errorf("announce: %w", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	if err := EnsureModelTopic(ctx, kadm.NewClient(cl), cfg.Topic); err != nil {
		return fmt.Errorf("announce: %w (the alias has moved; predictors will see it at their next poll)", err)
	}
	// The producer retries retriable errors itself until the timeout.
	if err := cl.ProduceSync(ctx, &kgo.Record{Key: []byte(a.Name), Value: msg}).FirstErr(); err != nil {
		return fmt.Errorf("announce %s@%s=%d on topic %s: %w (the alias has moved; predictors will see it at their next poll)", a.Name, a.Alias, a.Version, cfg.Topic, err)
	}
	return nil
}

// EnsureModelTopic creates topic with one partition (which keeps
// announcements in order) and the broker's default replication when it does
// not exist yet.
func EnsureModelTopic(ctx context.Context, adm *kadm.Client, topic string) error {
	if err := kafkaretry.CreateTopic(ctx, adm, topic, 1); err != nil {
		return fmt.Errorf("create model topic %s: %w", topic, err)
	}
	return nil
}
