package kafka

import (
	"strconv"

	"github.com/twmb/franz-go/pkg/kgo"
)

// Headers of dead-lettered messages. The message keeps the original key and
// value (an oversized value is cut to MaxRecordBytes, and
// HeaderOriginalSize says how long it was).
const (
	HeaderReason          = "lakestream-dlq-reason" // a Reason, such as "wrong_type"
	HeaderError           = "lakestream-dlq-error"  // the full decode error
	HeaderSourceTopic     = "lakestream-source-topic"
	HeaderSourcePartition = "lakestream-source-partition"
	HeaderSourceOffset    = "lakestream-source-offset"
	HeaderOriginalSize    = "lakestream-dlq-original-size"
)

// deadLetter builds the dead-letter message for r.
func deadLetter(topic string, r *kgo.Record, de *DecodeError, maxBytes int) *kgo.Record {
	value := r.Value
	hs := make([]kgo.RecordHeader, 0, len(r.Headers)+6)
	hs = append(hs, r.Headers...)
	hs = append(hs,
		kgo.RecordHeader{Key: HeaderReason, Value: []byte(de.Reason)},
		kgo.RecordHeader{Key: HeaderError, Value: []byte(de.Error())},
		kgo.RecordHeader{Key: HeaderSourceTopic, Value: []byte(r.Topic)},
		kgo.RecordHeader{Key: HeaderSourcePartition, Value: strconv.AppendInt(nil, int64(r.Partition), 10)},
		kgo.RecordHeader{Key: HeaderSourceOffset, Value: strconv.AppendInt(nil, r.Offset, 10)},
	)
	if maxBytes > 0 && len(value) > maxBytes {
		hs = append(hs, kgo.RecordHeader{Key: HeaderOriginalSize, Value: strconv.AppendInt(nil, int64(len(value)), 10)})
		value = value[:maxBytes]
	}
	return &kgo.Record{Topic: topic, Key: r.Key, Value: value, Headers: hs, Timestamp: r.Timestamp}
}

// Header returns the value of the last header named key in r, and whether
// there is one. It reads the headers dead-lettered messages carry.
func Header(r *kgo.Record, key string) (string, bool) {
	for i := len(r.Headers) - 1; i >= 0; i-- {
		if r.Headers[i].Key == key {
			return string(r.Headers[i].Value), true
		}
	}
	return "", false
}
