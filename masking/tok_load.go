package masking

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"

	"github.com/pkoukk/tiktoken-go-loader/assets"
)

// vocab is a vocabulary embedded by tiktoken-go-loader: token i is
// keys[ends[i-1]:ends[i]] (ends[-1] = 0) with rank ranks[i], in file order.
type vocab struct {
	keys  string
	ends  []int
	ranks []int
}

// readVocab reads a vocabulary embedded by tiktoken-go-loader (file is
// the asset's name, e.g. "o200k_base.tiktoken"): lines of a base64 token,
// a space and its rank. Token bytes are decoded into one string.
func readVocab(file string) (*vocab, error) {
	data, err := assets.Assets.ReadFile(file)
	if err != nil {
		return nil, err
	}
	lines := bytes.Count(data, []byte{'\n'}) + 1
	v := &vocab{ends: make([]int, 0, lines), ranks: make([]int, 0, lines)}
	arena := make([]byte, 0, base64.StdEncoding.DecodedLen(len(data)))
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(line) == 0 {
			continue
		}
		sp := bytes.IndexByte(line, ' ')
		if sp < 0 {
			return nil, fmt.Errorf("%s: a line without a rank", file)
		}
		if arena, err = base64.StdEncoding.AppendDecode(arena, line[:sp]); err != nil {
			return nil, fmt.Errorf("%s: %w", file, err)
		}
		rank, ok := parseRank(line[sp+1:])
		if !ok {
			return nil, fmt.Errorf("%s: a rank that is not a number", file)
		}
		v.ends = append(v.ends, len(arena))
		v.ranks = append(v.ranks, rank)
	}
	if len(v.ranks) == 0 {
		return nil, errors.New(file + ": no ranks")
	}
	v.keys = string(arena)
	return v, nil
}

// loadRanks is readVocab as the map tiktoken-go-loader's LoadTiktokenBpe
// makes (TestLoadRanksMatchesLoader): a later line wins.
func loadRanks(file string) (map[string]int, error) {
	v, err := readVocab(file)
	if err != nil {
		return nil, err
	}
	ranks := make(map[string]int, len(v.ranks))
	start := 0
	for i, end := range v.ends {
		ranks[v.keys[start:end]] = v.ranks[i]
		start = end
	}
	return ranks, nil
}

// parseRank parses a non-negative decimal rank.
func parseRank(b []byte) (int, bool) {
	if len(b) == 0 || len(b) > 9 {
		return 0, false
	}
	n := 0
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}
