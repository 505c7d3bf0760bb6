package kafkatest

import (
	"math/rand/v2"
	"strconv"

	"github.com/apache/arrow/go/v17/arrow"
)

// clickColumns is the 24-column click-log shape of train/clicklog (Avazu's
// columns): names in order, and whether the column holds strings.
var clickColumns = []struct {
	name string
	str  bool
	card int
}{
	{"id", true, 0}, {"click", false, 2}, {"hour", false, 0}, {"C1", false, 7}, {"banner_pos", false, 7},
	{"site_id", true, 3000}, {"site_domain", true, 2000}, {"site_category", true, 26},
	{"app_id", true, 3000}, {"app_domain", true, 200}, {"app_category", true, 30},
	{"device_id", true, 20000}, {"device_ip", true, 50000}, {"device_model", true, 5000},
	{"device_type", false, 5}, {"device_conn_type", false, 4}, {"C14", false, 2500},
	{"C15", false, 8}, {"C16", false, 9}, {"C17", false, 400}, {"C18", false, 4},
	{"C19", false, 60}, {"C20", false, 170}, {"C21", false, 60},
}

// ClickLogSchema is the Arrow schema of the click-log JSON messages that
// AppendClickLog writes: 9 string columns and 15 integer columns (click is
// int32, the rest int64).
func ClickLogSchema() *arrow.Schema {
	fs := make([]arrow.Field, len(clickColumns))
	for i, c := range clickColumns {
		switch {
		case c.str:
			fs[i] = arrow.Field{Name: c.name, Type: arrow.BinaryTypes.String}
		case c.name == "click":
			fs[i] = arrow.Field{Name: c.name, Type: arrow.PrimitiveTypes.Int32}
		default:
			fs[i] = arrow.Field{Name: c.name, Type: arrow.PrimitiveTypes.Int64}
		}
	}
	return arrow.NewSchema(fs, nil)
}

const hexDigits = "0123456789abcdef"

// AppendClickLog appends click-log row i as a JSON object (about 420 bytes),
// drawing values from r: identifiers are 8 hex digits, codes small integers,
// hour is YYMMDDHH as in Avazu.
func AppendClickLog(dst []byte, r *rand.Rand, i int) []byte {
	dst = append(dst, '{')
	for j, c := range clickColumns {
		if j > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, '"')
		dst = append(dst, c.name...)
		dst = append(dst, '"', ':')
		switch {
		case c.name == "id":
			dst = append(dst, '"')
			dst = strconv.AppendUint(dst, uint64(i)*2654435761%1_000_000_007+1_000_000_000_000, 10)
			dst = append(dst, '"')
		case c.name == "hour":
			dst = strconv.AppendInt(dst, 26110100+int64(i/100_000%24), 10)
		case c.str:
			v := uint32(r.IntN(c.card)) * 2654435761
			dst = append(dst, '"')
			for k := 28; k >= 0; k -= 4 {
				dst = append(dst, hexDigits[v>>uint(k)&0xf])
			}
			dst = append(dst, '"')
		default:
			dst = strconv.AppendInt(dst, int64(r.IntN(c.card))+1000, 10)
		}
	}
	return append(dst, '}')
}
