package kafka

// parseRFC3339 parses "YYYY-MM-DDTHH:MM:SS[.fraction][Z|±HH:MM]" (the 'T' may
// also be 't' or a space, 'Z' may be 'z') into seconds and nanoseconds since
// the Unix epoch, without allocating.
func parseRFC3339(s []byte) (sec int64, nsec int64, ok bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[13] != ':' || s[16] != ':' {
		return 0, 0, false
	}
	if c := s[10]; c != 'T' && c != 't' && c != ' ' {
		return 0, 0, false
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	second, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(year, month) ||
		hour > 23 || minute > 59 || second > 59 {
		return 0, 0, false
	}
	p := 19
	if s[p] == '.' {
		p++
		start := p
		scale := int64(100_000_000)
		for p < len(s) && s[p] >= '0' && s[p] <= '9' {
			if p-start < 9 {
				nsec += int64(s[p]-'0') * scale
				scale /= 10
			}
			p++
		}
		if p == start {
			return 0, 0, false
		}
	}
	if p >= len(s) {
		return 0, 0, false
	}
	var offset int64
	switch s[p] {
	case 'Z', 'z':
		p++
	case '+', '-':
		if len(s)-p != 6 || s[p+3] != ':' {
			return 0, 0, false
		}
		oh, okh := digits(s[p+1 : p+3])
		om, okm := digits(s[p+4 : p+6])
		if !okh || !okm || oh > 23 || om > 59 {
			return 0, 0, false
		}
		offset = oh*3600 + om*60
		if s[p] == '-' {
			offset = -offset
		}
		p += 6
	default:
		return 0, 0, false
	}
	if p != len(s) {
		return 0, 0, false
	}
	sec = daysFromCivil(year, month, day)*86400 + hour*3600 + minute*60 + second - offset
	return sec, nsec, true
}

func digits(s []byte) (int64, bool) {
	var v int64
	for _, c := range s {
		if c < '0' || c > '9' {
			return 0, false
		}
		v = v*10 + int64(c-'0')
	}
	return v, true
}

func daysIn(year, month int64) int64 {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}

// daysFromCivil returns the days since 1970-01-01 of a proleptic Gregorian
// date (Howard Hinnant's algorithm).
func daysFromCivil(y, m, d int64) int64 {
	if m <= 2 {
		y--
	}
	era := y / 400
	if y < 0 {
		era = (y - 399) / 400 // floor division
	}
	yoe := y - era*400
	mp := (m + 9) % 12
	doy := (153*mp+2)/5 + d - 1
	doe := yoe*365 + yoe/4 - yoe/100 + doy
	return era*146097 + doe - 719468
}
