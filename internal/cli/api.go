package cli

import (
	"net/http"

	"github.com/wwboot/wwboot/internal/api"
	"github.com/wwboot/wwboot/internal/overlay"
	"github.com/wwboot/wwboot/internal/provision"
)

// apiHandler returns the REST API the daemon mounts at /api/, or nil when
// api.enabled is off (the default). reload makes the daemon serve what
// an API call wrote; status reports the nodes' provisioning status.
// builder is the daemon's, so API builds and on-demand ones are shared.
func (a *app) apiHandler(builder *overlay.Builder, reload func() error, status func() map[string]provision.NodeStatus) (http.Handler, error) {
	if !a.cfg.API.Enabled {
		return nil, nil
	}
	s, err := api.New(api.Options{
		Site:    a.site,
		Builder: builder,
		Status:  status,
		Reload:  reload,
		Log:     a.log,
	})
	if err != nil {
		return nil, err
	}
	a.log.Info("REST API enabled", "auth", a.site.AuthConf(), "allowed subnets", a.cfg.API.AllowedSubnets, "tls", a.cfg.API.TLS)
	return s.Handler(), nil
}
