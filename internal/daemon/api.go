package daemon

import (
	"log/slog"
	"net/http"

	"github.com/wwboot/wwboot/internal/api"
	"github.com/wwboot/wwboot/internal/contract"
	"github.com/wwboot/wwboot/internal/overlay"
	"github.com/wwboot/wwboot/internal/site"
)

// apiHandler returns the REST API the daemon mounts at /api/, or nil when
// api.enabled is off (the default). reload makes the daemon serve what
// an API call wrote; status reports the nodes' provisioning status.
// builder is the daemon's, so API builds and on-demand ones are shared.
func apiHandler(st *site.Site, builder *overlay.Builder, reload func() ([]string, error), status func() map[string]contract.NodeStatus,
	log *slog.Logger) (http.Handler, error) {
	cfg := st.Config()
	if !cfg.API.Enabled {
		return nil, nil
	}
	s, err := api.New(api.Options{
		Site:    st,
		Builder: builder,
		Status:  status,
		Reload:  reload,
		Log:     log,
	})
	if err != nil {
		return nil, err
	}
	log.Info("REST API enabled", "auth", st.AuthConf(), "allowed subnets", cfg.API.AllowedSubnets, "tls", cfg.API.TLS)
	return s.Handler(), nil
}
