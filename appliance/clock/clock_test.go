package clock

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"
)

// dateServer is an HTTPS server whose Date header is now+skew.
func dateServer(t *testing.T, skew time.Duration, cert *tls.Certificate) *httptest.Server {
	t.Helper()
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Date", time.Now().Add(skew).UTC().Format(http.TimeFormat))
	}))
	if cert != nil {
		srv.TLS = &tls.Config{Certificates: []tls.Certificate{*cert}}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func pool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}

// shortCert is a self-signed certificate for 127.0.0.1, valid only from
// notBefore to notAfter.
func shortCert(t *testing.T, notBefore, notAfter time.Time) (*tls.Certificate, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "date source"},
		NotBefore: notBefore, NotAfter: notAfter,
		IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, IsCA: true, BasicConstraintsValid: true,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, c
}

func TestDateFrom(t *testing.T) {
	ctx := context.Background()
	floor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	good := dateServer(t, time.Hour, nil)
	u, _ := url.Parse(good.URL)
	d, err := dateFrom(ctx, u, pool(good.Certificate()), floor)
	if err != nil || d.Sub(time.Now().Add(time.Hour)).Abs() > 5*time.Second {
		t.Errorf("date %v, %v; want an hour ahead", d, err)
	}

	// Another CA's certificate: refused, whatever the Date.
	otherCert, _ := shortCert(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	other := dateServer(t, 0, otherCert)
	ou, _ := url.Parse(other.URL)
	if _, err := dateFrom(ctx, ou, pool(good.Certificate()), floor); err == nil || !strings.Contains(err.Error(), "verifying the server's certificate") {
		t.Errorf("untrusted certificate: %v", err)
	}
	// The right CA but the wrong name (the LAN's DNS sent us elsewhere).
	wrong := *u
	wrong.Host = "localhost:" + u.Port()
	if _, err := dateFrom(ctx, &wrong, pool(good.Certificate()), floor); err == nil || !strings.Contains(err.Error(), "localhost") {
		t.Errorf("wrong name: %v", err)
	}
	// A Date before the build is refused.
	if _, err := dateFrom(ctx, u, pool(good.Certificate()), time.Now().Add(48*time.Hour)); err == nil || !strings.Contains(err.Error(), "before this software was built") {
		t.Errorf("Date before the floor: %v", err)
	}
	// A certificate that expired yesterday (today's clock is what the box
	// does not know): its chain verifies at its own time, but a Date
	// outside its validity is refused.
	cert, leaf := shortCert(t, time.Now().Add(-72*time.Hour), time.Now().Add(-24*time.Hour))
	old := dateServer(t, 0, cert)
	olu, _ := url.Parse(old.URL)
	if _, err := dateFrom(ctx, olu, pool(leaf), floor); err == nil || !strings.Contains(err.Error(), "outside the certificate's validity") {
		t.Errorf("Date after the certificate expired: %v", err)
	}
	cert, leaf = shortCert(t, time.Now().Add(-time.Hour), time.Now().Add(time.Hour))
	fresh := dateServer(t, 0, cert)
	fu, _ := url.Parse(fresh.URL)
	if _, err := dateFrom(ctx, fu, pool(leaf), floor); err != nil {
		t.Errorf("a certificate valid now: %v", err)
	}
}

func TestStepped(t *testing.T) {
	// Without a step, wall and monotonic time agree. (A real step needs
	// settimeofday; the VM boot test sees the clock set that way.)
	start := time.Now()
	time.Sleep(10 * time.Millisecond)
	if stepped(start, time.Now()) {
		t.Error("no step seen as one")
	}
}

// recorder collects what Watch reports and the times it sets.
type recorder struct {
	mu    sync.Mutex
	lines []string
	set   []time.Time
}

func (r *recorder) report(s string) { r.mu.Lock(); r.lines = append(r.lines, s); r.mu.Unlock() }
func (r *recorder) setTime(t time.Time) error {
	r.mu.Lock()
	r.set = append(r.set, t)
	r.mu.Unlock()
	return nil
}
func (r *recorder) snapshot() ([]string, []time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.lines...), append([]time.Time(nil), r.set...)
}

func TestWatch(t *testing.T) {
	floor := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	ahead := dateServer(t, 3*time.Hour, nil)
	near := dateServer(t, 2*time.Second, nil)
	down := httptest.NewTLSServer(http.NotFoundHandler())
	down.Close()

	for _, tt := range []struct {
		name    string
		sources []string
		roots   *x509.CertPool
		want    []string
		setHour bool
	}{
		{"set from the first source that answers", []string{down.URL, ahead.URL}, pool(ahead.Certificate()),
			[]string{"waiting for NTP", "set from the HTTPS Date of " + strings.TrimPrefix(ahead.URL, "https://") + " (no NTP)"}, true},
		{"close enough", []string{near.URL}, pool(near.Certificate()),
			[]string{"waiting for NTP", "ok (agrees with the HTTPS Date of " + strings.TrimPrefix(near.URL, "https://") + ")"}, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var r recorder
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			Watch(ctx, Options{Sources: tt.sources, Roots: tt.roots, Floor: floor, Set: r.setTime, Poll: 10 * time.Millisecond}, r.report)
			lines, set := r.snapshot()
			if strings.Join(lines, "\n") != strings.Join(tt.want, "\n") {
				t.Errorf("reported %q, want %q", lines, tt.want)
			}
			if tt.setHour != (len(set) == 1) || (tt.setHour && set[0].Sub(time.Now().Add(3*time.Hour)).Abs() > 5*time.Second) {
				t.Errorf("set the clock to %v", set)
			}
		})
	}

	// No source answers: the line says so, and Watch keeps trying.
	var r recorder
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	Watch(ctx, Options{Sources: []string{down.URL}, Floor: time.Now().Add(time.Hour), Set: r.setTime, Poll: 10 * time.Millisecond, Retry: 50 * time.Millisecond}, r.report)
	lines, set := r.snapshot()
	if len(lines) < 2 || !strings.HasPrefix(lines[0], "NOT SET (") || !strings.HasPrefix(lines[1], "NOT SET: no NTP, 127.0.0.1:") || len(set) != 0 {
		t.Errorf("with no source: reported %q, set %v", lines, set)
	}
}
