package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/apache/arrow/go/v17/arrow"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"gopkg.in/yaml.v3"

	"github.com/lakestream/lakestream/dataset"
	"github.com/lakestream/lakestream/datastream"
	"github.com/lakestream/lakestream/datastream/kafka"
	"github.com/lakestream/lakestream/eval"
	"github.com/lakestream/lakestream/eval/evaltable"
	"github.com/lakestream/lakestream/internal/cliconfig"
	"github.com/lakestream/lakestream/lake"
	"github.com/lakestream/lakestream/model"
	"github.com/lakestream/lakestream/paramserver"
	"github.com/lakestream/lakestream/train"
	"github.com/lakestream/lakestream/train/feature"
	"github.com/lakestream/lakestream/train/job"
	"github.com/lakestream/lakestream/train/publish"
)

// runStream is "trainer stream": one process training continuously on a
// Kafka topic of JSON rows, evaluating test-then-train and publishing a
// version through the gate every --publish-every.
func runStream(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("stream", flag.ContinueOnError)
	finish := trainFlags(fs)
	topic := fs.String("topic", "", "Kafka topic of JSON rows to train on (required)")
	brokers := fs.String("kafka-brokers", "", "Kafka seed brokers host:port[,...] (required)")
	cliconfig.Alias(fs, "brokers", "kafka-brokers") // the spelling before 2026-12; remove in the next release
	deadLetter := fs.String("dead-letter-topic", "", "topic receiving messages that do not decode or that the spec refuses, with the reason in headers (default <topic>.dead-letters; it must exist)")
	schemaPath := fs.String("schema", "", "YAML file typing the JSON columns (columns: {name: type}); instead of --data, whose table types them")
	start := fs.String("start", "earliest", "where a new job starts reading: earliest or latest (a job that has published resumes after its newest version)")
	every := fs.String("publish-every", "1m", "publish a version every N examples (500000), processing-time interval (30s) or event-time interval (event:1h)")
	minAUC := fs.Float64("min-auc", model.DefaultMinAUC, "gate: the version's AUC on the recent window must reach this floor (max RMSE for regression models: see --max-rmse)")
	maxRMSE := fs.Float64("max-rmse", math.MaxFloat64, "gate for regression models: the version's RMSE on the recent window must not exceed this (default: no bound)")
	maxDrop := fs.Float64("max-drop", model.DefaultMaxDrop, "gate: how much worse than the champion on the same window a version may be")
	gateWindow := fs.Int("gate-window", 100_000, "gate: the most recent examples a version is judged on")
	heldOutData := fs.String("held-out-data", "", "gate: judge each version and the champion on this lake table (sliced by --held-out-dt) instead of the recent prequential window; binary models")
	heldOutDT := fs.String("held-out-dt", "", "gate: dt partition day or range a..b of --held-out-data")
	recent := fs.Int("recent", 100_000, "prequential metrics over the last N examples")
	window := fs.Duration("window", time.Minute, "prequential metrics per event-time window of this size (needs event_time in the spec)")
	modelTopic := fs.String("model-topic", model.DefaultModelTopic, "the model topic promotions are announced on")
	maxRecords := fs.Int64("max-records", 0, "stop (publishing the final model) once this many examples were trained; more may be trained before the stop takes effect (0: no limit)")
	idleExit := fs.Duration("idle-exit", 0, "stop (publishing the final model) when no message arrived for this long (0: run until SIGTERM)")
	metricsAddr := fs.String("metrics-listen", "", "serve Prometheus metrics on this address (e.g. :9102)")
	logEvery := fs.Duration("log-every", 5*time.Second, "how often to log prequential metrics and write the job status")
	ckEvery := fs.Duration("checkpoint-every", 10*time.Second, "checkpoint the training state (tables with optimizer state, counters, prequential and gate state, Kafka offsets) to the lake this often; a restarted job with the same --output resumes from the latest checkpoint (versions also cut one)")
	restore := fs.Bool("restore", false, "refuse to start unless a checkpoint of this --output exists to resume from")
	if err := parseConfig(fs, args, nil); err != nil {
		return err
	}
	if *schemaPath != "" {
		// The table is not read: the schema file types the columns.
		if f := fs.Lookup("data"); f.Value.String() == "" {
			_ = f.Value.Set("(schema file)")
		}
	}
	j, err := finish()
	if err != nil {
		return err
	}
	switch {
	case *topic == "":
		return &usageError{"--topic is required (the Kafka topic of JSON rows to train on)"}
	case *brokers == "":
		return &usageError{"--kafka-brokers is required (Kafka seed brokers host:port[,...])"}
	case j.output == "":
		return &usageError{"--output is required: the model name the stream publishes versions under"}
	case j.run.Epochs != 1:
		return &usageError{"--epochs: a stream is trained in one pass; drop --epochs"}
	case j.shuffle != 0:
		return &usageError{"--shuffle-buffer is not supported by trainer stream (records train in partition order)"}
	case j.run.Patience != 0:
		return &usageError{"--patience (early stopping) is for bounded data; trainer stream has the gate instead"}
	case j.valDT != "" || j.valHash != "":
		return &usageError{"--validation-dt/--validation-hash: trainer stream evaluates prequentially (test-then-train); drop them"}
	case j.model.Negatives > 0:
		return &usageError{"--negatives: trainer stream judges each version on the prequential scores of the rows it saw; sampled negatives have none (train implicit-feedback MF with trainer train)"}
	case *start != "earliest" && *start != "latest":
		return &usageError{fmt.Sprintf("--start %q: want earliest or latest", *start)}
	case *gateWindow < 1 || *recent < 0:
		return &usageError{"--gate-window must be ≥ 1 and --recent ≥ 0"}
	case *maxRecords < 0 || *idleExit < 0:
		return &usageError{"--max-records and --idle-exit must not be negative"}
	case *ckEvery <= 0:
		return &usageError{fmt.Sprintf("--checkpoint-every %v: want > 0 (trainer stream always checkpoints; versions are cut at checkpoints)", *ckEvery)}
	case *heldOutDT != "" && *heldOutData == "":
		return &usageError{"--held-out-dt needs --held-out-data (the lake table whose days it names)"}
	case *heldOutData != "" && onCommandLine(args, "gate-window"):
		return &usageError{"--gate-window sizes the recent prequential window, which --held-out-data replaces as the gate's slice: drop one"}
	}
	if _, err := job.DTFilter(*heldOutDT); err != nil {
		return &usageError{strings.Replace(err.Error(), "--dt", "--held-out-dt", 1)}
	}
	pubEvery, err := publish.ParseEvery(*every)
	if err != nil {
		return &usageError{err.Error()}
	}
	var brokerList []string
	for _, b := range strings.Split(*brokers, ",") {
		if b = strings.TrimSpace(b); b == "" {
			return &usageError{fmt.Sprintf("--kafka-brokers %q: empty address", *brokers)}
		}
		brokerList = append(brokerList, b)
	}
	dlq := *deadLetter
	if dlq == "" {
		dlq = *topic + ".dead-letters"
	}
	if dlq == *topic {
		return &usageError{"--dead-letter-topic must differ from --topic"}
	}
	log := newLogger(os.Stderr).With("topic", *topic)

	store, err := lake.Open(ctx, j.lakeURI)
	if err != nil {
		return fmt.Errorf("--lake: %w", err)
	}
	schema, err := streamSchema(ctx, j, store, *schemaPath)
	if err != nil {
		return err
	}
	j.model.Fields = j.spec.NumFields()
	if j.model.Kind == train.KindSoftmax {
		j.model.Classes = j.spec.NumClasses()
	}
	j.model.Seed = j.seed
	// softmax's classes come from the spec's label: a binary one is refused
	// for what it is (CheckSpec), not as "classes = 1" (NewModel).
	if err := train.CheckSpec(j.model, j.spec); err != nil && j.model.Kind == train.KindSoftmax {
		return &usageError{fmt.Sprintf("--model %s with --spec: %v", j.model.Kind, err)}
	}
	m, err := train.NewModel(j.model)
	if err != nil {
		return &usageError{err.Error()}
	}
	if err := train.CheckSpec(j.model, j.spec); err != nil {
		return &usageError{fmt.Sprintf("--model %s with --spec: %v", j.model.Kind, err)}
	}
	if err := j.opt.Validate(); err != nil {
		return &usageError{fmt.Sprintf("optimizer: %v", err)}
	}
	regression := streamRegression(j.model)
	if m.Outputs() != 1 {
		return &usageError{fmt.Sprintf("--model %s: trainer stream judges versions on their prequential AUC or RMSE; multiclass models are not supported yet", j.model.Kind)}
	}
	if *heldOutData != "" {
		if regression {
			return &usageError{fmt.Sprintf("--held-out-data: the held-out gate compares AUCs, and --model %s with this --loss is a regression model (drop --held-out-data: the recent window judges it on RMSE)", j.model.Kind)}
		}
		// The slice must have rows the spec can read before the job starts.
		hc := j.config()
		hc.Data, hc.Where, hc.DT = *heldOutData, "", *heldOutDT
		dts, _ := job.DTFilter(*heldOutDT)
		if _, err := job.Plan(ctx, store, &hc, dts, "held-out"); err != nil {
			return fmt.Errorf("--held-out-data %s --held-out-dt %q: %w", *heldOutData, *heldOutDT, err)
		}
	}

	// The publisher reads the job's newest version: a job that has
	// published resumes after it.
	gate := model.Gate{Metric: "auc", Floor: *minAUC, Epsilon: *maxDrop}
	if regression {
		gate = model.Gate{Metric: "rmse", LowerIsBetter: true, Floor: *maxRMSE, Epsilon: *maxDrop}
	}
	pcfg := publish.DefaultConfig(store, j.output)
	pcfg.Job, pcfg.Gate, pcfg.Every, pcfg.Window = "stream-"+j.output, gate, pubEvery, *gateWindow
	pcfg.MinWindow = min(pcfg.MinWindow, *gateWindow)
	pcfg.Logger = log
	gateSlice := "recent prequential window"
	if *heldOutData != "" {
		ec := evaltable.DefaultConfig()
		ec.Data, ec.DT, ec.IncludeUncommitted, ec.Logger = *heldOutData, *heldOutDT, j.uncommitted, log
		pcfg.HeldOut = func(ctx context.Context, candidate, _ int) (model.Evaluation, error) {
			return evaltable.GateEvaluation(ctx, store, ec, j.output, candidate)
		}
		gateSlice = ec.Slice()
	}
	ann := model.DefaultAnnounceConfig(brokerList...)
	ann.Topic = *modelTopic
	pcfg.Announce = func(ctx context.Context, rec model.AliasRecord) error {
		a, err := model.NewAnnouncement(ctx, store, j.lakeURI, j.output, rec)
		if err != nil {
			return err
		}
		return model.Announce(ctx, ann, a)
	}
	pub, err := publish.New(ctx, pcfg)
	if err != nil {
		return err
	}
	defer pub.Close()
	// A job with a checkpoint resumes from it; one without, after its
	// newest published version (if any).
	jobName := "trainer-stream-" + j.output
	cps := datastream.ObjectCheckpoints(store, lake.ErrNotExist)
	latest, err := datastream.LatestCheckpoint(ctx, cps, jobName)
	switch {
	case errors.Is(err, datastream.ErrNoCheckpoint):
		latest = nil
		if *restore {
			return fmt.Errorf("--restore: no checkpoint of job %s in the lake (checkpoints/%s/): drop --restore to start afresh", jobName, jobName)
		}
	case err != nil:
		return fmt.Errorf("find the checkpoints of %s: %w", jobName, err)
	}
	var resume *resumePoint
	if latest == nil {
		if resume, err = lastLineage(ctx, store, j.output, pcfg.Job); err != nil {
			return err
		}
	}
	// The checkpoints hold the change from the warm-start base: a job
	// that resumes from them starts from the base version its first run
	// resolved (recorded beside them), whatever --warm-start names now.
	baseKey := "checkpoints/" + jobName + "/warm-start"
	warm := j.warm
	switch {
	case latest != nil:
		log.Info("resuming from the job's latest checkpoint", "checkpoint", latest.ID, "savepoint", latest.Savepoint)
		raw, err := lake.ReadAll(ctx, store, baseKey)
		switch {
		case err == nil:
			if warm != "" && warm != string(raw) {
				log.Info("--warm-start "+warm+": the job resumes from its checkpoint, trained from the base its first run resolved", "base", string(raw))
			}
			warm = string(raw)
		case !errors.Is(err, lake.ErrNotExist):
			return fmt.Errorf("read %s: %w", baseKey, err)
		}
	case resume != nil:
		warm = fmt.Sprintf("%s@%d", j.output, resume.version)
		log.Info("resuming after the job's newest version", "version", resume.version, "examples", resume.lin.Examples)
	}
	ps, err := paramserver.NewLocal(job.TableSpecs(m, j.opt, j.seed, warm != "")...)
	if err != nil {
		return err
	}
	st := train.NewStepper(m, ps, j.run.ClipNorm)
	if warm != "" {
		name, ver, err := model.ResolveRef(ctx, store, warm)
		if err != nil {
			return fmt.Errorf("--warm-start: %w", err)
		}
		base, err := model.Load(ctx, store, name, ver)
		if err != nil {
			return fmt.Errorf("--warm-start: %w", err)
		}
		if err := st.WarmStart(base); err != nil {
			return fmt.Errorf("--warm-start %s: %w", warm, err)
		}
		warm = fmt.Sprintf("%s@%d", base.Meta().Name, base.Meta().Version)
	}
	if latest == nil {
		if err := store.Put(ctx, baseKey, strings.NewReader(warm), int64(len(warm))); err != nil {
			return fmt.Errorf("record the warm-start base in %s: %w", baseKey, err)
		}
	}

	pcfgEval := eval.DefaultPrequentialConfig(eval.Windows{}, j.spec.Label.Column, "")
	pcfgEval.Recent, pcfgEval.Regression = *recent, regression
	if j.spec.EventTime != "" && *window > 0 {
		pcfgEval.Windows, pcfgEval.EventTime = eval.Tumbling(window.Milliseconds()), j.spec.EventTime
	}
	ev, err := eval.NewPrequential(pcfgEval)
	if err != nil {
		return &usageError{fmt.Sprintf("--window/--recent: %v", err)}
	}
	fz, err := feature.NewFeaturizer(j.spec)
	if err != nil {
		return err
	}
	scfg := kafka.DefaultSourceConfig()
	// The group only receives the offsets of durable checkpoints (lag
	// monitoring); the job reads every partition and positions itself.
	scfg.Brokers, scfg.Topic, scfg.Assignment, scfg.Group = brokerList, *topic, kafka.AssignAll, "lakestream-"+pcfg.Job
	// Partitions merge in turn: the order records reach training is a
	// function of the topic's contents and the checkpoint, so a resumed
	// job trains what an uninterrupted one does.
	scfg.Merge = kafka.MergeInTurn
	scfg.Start = kafka.StartEarliest
	if *start == "latest" {
		scfg.Start = kafka.StartLatest
	}
	scfg.Schema = decodeSchema(schema, j.spec)
	scfg.DeadLetterTopic = dlq
	scfg.MaxBatchRows = max(j.batchSize, 1024)
	rowCheck, err := newRowGate(j.spec, m)
	if err != nil {
		return err
	}
	scfg.Reject = rowCheck.reject
	src, err := kafka.NewSource(scfg)
	if err != nil {
		return &usageError{err.Error()}
	}
	if err := (&streamWorker{flags: streamFlags{topic: *topic, brokers: *brokers}, dlq: dlq}).checkTopics(ctx, brokerList); err != nil {
		return err
	}
	if resume != nil {
		pos, err := kafka.Position{Topic: *topic, Next: resume.lin.Offsets, Turn: -1}.MarshalBinary()
		if err != nil {
			return err
		}
		if err := src.SeekTo(ctx, pos); err != nil {
			return err
		}
	}
	inputs, err := model.InputsOf(schema, j.spec)
	if err != nil {
		return err
	}
	windowInputs, err := model.WindowInputsOf(schema, j.spec)
	if err != nil {
		return err
	}
	opt := j.opt
	reg := prometheus.NewRegistry()
	sink := train.NewSink(st, fz, j.batchSize)
	// dj is built below, once the stream exists; cuts requested before
	// the job runs are taken by its first periodic checkpoint.
	var dj *datastream.Job
	requestCut := func() {
		go func() { _, _ = dj.TriggerCheckpoint(ctx) }() // an error leaves the cut to the next periodic checkpoint
	}
	fp, err := streamFingerprint(j, *topic, pubEvery, *gateWindow, *recent, pcfgEval, warm)
	if err != nil {
		return err
	}
	stream, err := publish.NewStream(publish.StreamConfig{
		Fingerprint: fp, Sink: sink, Stepper: st, Model: j.model, Spec: j.spec, Eval: ev, Publisher: pub,
		Source: "kafka://" + *topic, EventTime: pcfgEval.EventTime, LogEvery: *logEvery, Registerer: reg, Logger: log, RequestCut: requestCut,
		Meta: model.Metadata{Data: model.DataRange{Source: "kafka://" + *topic}, Optimizer: &opt, Seed: j.seed, Inputs: inputs, WindowInputs: windowInputs,
			Hyperparameters: map[string]string{"batch_size": fmt.Sprint(j.batchSize), "publish_every": pubEvery.String()}},
		DeadLetters: func() map[string]int64 {
			out := map[string]int64{}
			for r, n := range src.Stats().DeadLetters {
				out[string(r)] = n
			}
			return out
		},
	})
	if err != nil {
		return err
	}
	if resume != nil {
		stream.Resume(resume.lin.Examples, resume.lin.Offsets)
	}
	if *metricsAddr != "" {
		ln, err := net.Listen("tcp", *metricsAddr)
		if err != nil {
			return &usageError{fmt.Sprintf("--metrics-listen: %v", err)}
		}
		srv := &http.Server{Handler: promhttp.HandlerFor(reg, promhttp.HandlerOpts{}), ReadHeaderTimeout: 10 * time.Second}
		go func() { _ = srv.Serve(ln) }()
		defer srv.Close()
	}
	// Versions are cut at checkpoint barriers: a version that becomes due
	// requests its barrier (RequestCut); the others come every
	// --checkpoint-every.
	opts := []datastream.Option{datastream.WithCheckpoints(cps, *ckEvery, 1), datastream.WithLogger(log), datastream.WithMetrics(reg)}
	if latest != nil {
		opts = append(opts, datastream.WithRestore())
	}
	dj = datastream.NewJob(jobName, opts...)
	data, err := feature.AddWindows(dj.Source("kafka", &positionSource{Source: src, stream: stream}, datastream.ReadAhead(2)), "windows", j.spec)
	if err != nil {
		return err
	}
	data.To("train", stream)
	began := time.Now()
	log.Info("trainer stream started", "dead_letter_topic", dlq, "publish_every", pubEvery.String(), "gate", fmt.Sprintf("%s floor %g ε %g", gate.Metric, gate.Floor, gate.Epsilon), "gate_slice", gateSlice)
	stopped, err := runStreamJob(ctx, dj, src, stream.Examples, *maxRecords, *idleExit, log, "stopping at a final checkpoint")
	if err != nil && stopped == "failed" {
		err = fmt.Errorf("trainer stream: %w", err)
		if errors.Is(err, train.ErrCheckpointMismatch) {
			err = fmt.Errorf("%w (to start this job afresh, delete checkpoints/%s/ in the lake or choose another --output)", err, jobName)
		}
	}
	if n := src.Stats().MergeTimeouts; n > 0 {
		log.Warn("partitions were passed over after waiting for records the topic held: this run's training order depended on fetch timing, so a rerun or a resumed run may differ from it",
			"merge_timeouts", n, "merge_wait", scfg.MergeWait.String())
	}
	state := "stopped"
	if err != nil {
		state = "failed"
	}
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 2*time.Minute)
	defer cancel()
	if ferr := stream.Finish(fctx, state); ferr != nil && err == nil {
		err = ferr
	}
	if err != nil {
		return err
	}
	d := time.Since(began)
	sum := ev.Summary()
	fmt.Fprintf(stdout, "trained %d examples in %s (%s examples/s); stopped: %s\n", stream.Examples(), d.Round(time.Millisecond),
		rate(stream.Examples()-resumeExamples(resume), d), stopped)
	rs := publish.NewWindowStatus(sum.Recent, regression)
	if rs.AUC != nil {
		fmt.Fprintf(stdout, "prequential auc %.6f over the last %d examples\n", *rs.AUC, rs.Examples)
	} else if rs.RMSE != nil {
		fmt.Fprintf(stdout, "prequential rmse %.6f over the last %d examples\n", *rs.RMSE, rs.Examples)
	}
	for _, v := range pub.Versions() {
		verdict := "refused"
		if v.Decision.Promoted {
			verdict = "champion"
		}
		if v.Error != "" {
			verdict = "not judged: " + v.Error
		}
		fmt.Fprintf(stdout, "version %d (%d examples, offsets %s): %s — %s\n", v.Version, v.Lineage.Examples, formatOffsets(v.Lineage.Offsets), verdict, v.Decision.Reason)
	}
	fmt.Fprintf(stdout, "dead letters %s to %s; status in %s\n", formatDead(src.Stats().DeadLetters), dlq, publish.StatusKey(pcfg.Job))
	return nil
}

// streamRegression says whether c trains on real-valued targets (squared
// loss): its versions are then judged on RMSE instead of AUC.
func streamRegression(c train.ModelConfig) bool {
	switch c.Kind {
	case train.KindLinear, train.KindBayesLinear:
		return true
	case train.KindFM, train.KindFFM, train.KindMLP, train.KindDeepFM:
		return c.Loss == train.LossSquared
	case train.KindMF:
		return c.Loss != train.LossLogistic
	}
	return false
}

func resumeExamples(r *resumePoint) int64 {
	if r == nil {
		return 0
	}
	return r.lin.Examples
}

// resumePoint is the job's newest published version.
type resumePoint struct {
	version int
	lin     model.Lineage
}

// lastLineage finds the newest version of name that job published.
func lastLineage(ctx context.Context, store lake.Store, name, job string) (*resumePoint, error) {
	mfs, err := model.Versions(ctx, store, name)
	if errors.Is(err, model.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	for i := len(mfs) - 1; i >= 0; i-- {
		if l := mfs[i].Meta.Lineage; l != nil && l.Job == job {
			return &resumePoint{version: mfs[i].Meta.Version, lin: *l}, nil
		}
	}
	return nil, nil
}

// streamSchema returns the types of the JSON columns: from --schema, or
// from the --data table the topic mirrors (which also fits the spec's
// standardization).
func streamSchema(ctx context.Context, j *trainJob, store lake.Store, path string) (*arrow.Schema, error) {
	if path != "" {
		raw, err := os.ReadFile(path)
		if err != nil {
			return nil, &usageError{fmt.Sprintf("--schema: %v", err)}
		}
		s, err := parseSchemaFile(raw)
		if err != nil {
			return nil, &usageError{fmt.Sprintf("--schema %s: %v", path, err)}
		}
		if err := j.spec.ValidateSchema(s); err != nil {
			return nil, fmt.Errorf("spec %s against --schema %s: %w", j.specPath, path, err)
		}
		for _, n := range j.spec.Numeric {
			if n.Standardize && (n.Mean == nil || n.Std == nil) {
				return nil, &usageError{fmt.Sprintf("--spec: column %s asks for standardization without mean and std; give them in the spec, or --data to fit them on the table", n.Column)}
			}
		}
		return s, nil
	}
	filter, err := dataset.ParseWhere(j.where)
	if err != nil {
		return nil, &usageError{fmt.Sprintf("--where: %v", err)}
	}
	dts, err := job.DTFilter(j.dt)
	if err != nil {
		return nil, &usageError{err.Error()}
	}
	cfg := j.config()
	plan, err := job.Plan(ctx, store, &cfg, append(filter, dts...), "schema")
	if err != nil {
		return nil, err
	}
	if j.spec, err = job.FitSpec(ctx, j.spec, plan); err != nil {
		return nil, err
	}
	return plan.Schema(), nil
}

// parseSchemaFile reads "columns: {name: type, ...}" in order. Types:
// string, int64, int32, float64, float32, bool, timestamp (milliseconds).
func parseSchemaFile(raw []byte) (*arrow.Schema, error) {
	var doc struct {
		Columns yaml.Node `yaml:"columns"`
	}
	if err := yaml.Unmarshal(raw, &doc); err != nil {
		return nil, err
	}
	if doc.Columns.Kind != yaml.MappingNode || len(doc.Columns.Content) == 0 {
		return nil, errors.New("want columns: a mapping of column name to type")
	}
	types := map[string]arrow.DataType{
		"string": arrow.BinaryTypes.String, "int64": arrow.PrimitiveTypes.Int64, "int32": arrow.PrimitiveTypes.Int32,
		"float64": arrow.PrimitiveTypes.Float64, "float32": arrow.PrimitiveTypes.Float32, "bool": arrow.FixedWidthTypes.Boolean,
		"timestamp": arrow.FixedWidthTypes.Timestamp_ms,
	}
	var fields []arrow.Field
	for i := 0; i+1 < len(doc.Columns.Content); i += 2 {
		name, typ := doc.Columns.Content[i].Value, doc.Columns.Content[i+1].Value
		t, ok := types[typ]
		if !ok {
			return nil, fmt.Errorf("line %d: column %s has type %q; want string, int64, int32, float64, float32, bool or timestamp", doc.Columns.Content[i+1].Line, name, typ)
		}
		fields = append(fields, arrow.Field{Name: name, Type: t, Nullable: true})
	}
	return arrow.NewSchema(fields, nil), nil
}

// positionSource is the job's Kafka source; when a checkpoint is durable it
// commits the checkpoint's offsets to the consumer group and hands them to
// the publish step (the lineage of a version exported at that barrier), and
// on a restore it tells the publish step where the source resumes.
type positionSource struct {
	*kafka.Source
	stream *publish.Stream
}

// SeekTo implements datastream.Positioner.
func (s *positionSource) SeekTo(ctx context.Context, pos []byte) error {
	p, err := decodePosition(pos)
	if err != nil {
		return err
	}
	if err := s.Source.SeekTo(ctx, pos); err != nil {
		return err
	}
	s.stream.Seeked(p.Next)
	return nil
}

// CommitCheckpoint implements datastream.CheckpointCommitter.
func (s *positionSource) CommitCheckpoint(ctx context.Context, id int64, state []byte) error {
	p, err := decodePosition(state)
	if err != nil {
		return err
	}
	s.stream.Committed(id, p.Next)
	return s.Source.CommitCheckpoint(ctx, id, state)
}

func decodePosition(state []byte) (kafka.Position, error) {
	var p kafka.Position
	if len(state) > 0 {
		if err := p.UnmarshalBinary(state); err != nil {
			return p, err
		}
	}
	if p.Next == nil {
		p.Next = map[int32]int64{}
	}
	return p, nil
}

// streamFingerprint identifies what a checkpoint of a trainer stream job
// holds: a checkpoint with another fingerprint is refused, not resumed.
func streamFingerprint(j *trainJob, topic string, every publish.Every, gateWindow, recent int, ev eval.PrequentialConfig, warm string) ([]byte, error) {
	b, err := json.Marshal(struct {
		Topic, Warm        string
		Spec               *feature.Spec
		Model              train.ModelConfig
		Optimizer          any
		ClipNorm           float64
		BatchSize          int
		Seed               uint64
		Every              publish.Every
		GateWindow, Recent int
		Prequential        eval.PrequentialConfig
	}{topic, warm, j.spec, j.model, j.opt, j.run.ClipNorm, j.batchSize, j.seed, every, gateWindow, recent, ev})
	if err != nil {
		return nil, fmt.Errorf("fingerprint the job for its checkpoints: %w", err)
	}
	h := sha256.Sum256(b)
	return h[:], nil
}

// runStreamJob runs job until SIGTERM (ctx), --max-records (examples
// counts them) or --idle-exit (no message read from src), then stops it at
// a final checkpoint (datastream.RunUntil). It returns why it stopped.
func runStreamJob(ctx context.Context, job *datastream.Job, src *kafka.Source, examples func() int64, maxRecords int64, idleExit time.Duration, log *slog.Logger, stopping string) (string, error) {
	why := func(r datastream.StopReason) string {
		switch r {
		case datastream.StopCanceled:
			return "signal"
		case datastream.StopMaxRecords:
			return fmt.Sprintf("--max-records %d reached", maxRecords)
		case datastream.StopIdle:
			return fmt.Sprintf("no message for --idle-exit %s", idleExit)
		}
		return "input ended"
	}
	r, err := datastream.RunUntil(ctx, job, datastream.Until{
		MaxRecords: maxRecords, Records: examples, Idle: idleExit,
		Seen: func() int64 {
			st := src.Stats()
			seen := st.Records
			for _, n := range st.DeadLetters {
				seen += n
			}
			return seen
		},
		OnStop:           func(r datastream.StopReason) { log.Info(stopping, "reason", why(r)) },
		OnSavepointError: func(err error) { log.Warn("final checkpoint failed; stopping without it", "err", err) },
	})
	if err != nil && r == datastream.StopInputEnded {
		return "failed", err
	}
	return why(r), err
}
