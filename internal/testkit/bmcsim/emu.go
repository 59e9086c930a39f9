package bmcsim

import "bytes"

// Emu returns the simulator's emulation commands (its management
// controller and sensors), for a harness that runs ipmi_sim itself.
func Emu() []byte { return bytes.Clone(emu) }
