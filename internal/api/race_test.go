//go:build race

package api

// raceEnabled: the race detector slows bcrypt tenfold, so timings say
// nothing.
const raceEnabled = true
