package dashboard

import (
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"io/fs"
	"mime"
	"net/http"
	"path"
	"strings"

	"github.com/metachat/metachat/internal/apperr"
)

//go:embed assets
var assetFS embed.FS

// assets are the embedded static files, served under
// /app/assets/<name>.<hash>.<ext> and cached for a year: a changed file
// has a new URL.
type assets struct {
	byName map[string]*assetFile // "app.css"
	byFile map[string]*assetFile // "app.3f2a9c1b0d4e.css"
}

type assetFile struct {
	body        []byte
	url         string
	hash        string
	contentType string
}

func loadAssets() (*assets, error) {
	a := &assets{byName: map[string]*assetFile{}, byFile: map[string]*assetFile{}}
	err := fs.WalkDir(assetFS, "assets", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(assetFS, p)
		if err != nil {
			return err
		}
		name := strings.TrimPrefix(p, "assets/")
		sum := sha256.Sum256(b)
		hash := hex.EncodeToString(sum[:6])
		ext := path.Ext(name)
		file := strings.TrimSuffix(name, ext) + "." + hash + ext
		ct := mime.TypeByExtension(ext)
		if ct == "" {
			ct = "application/octet-stream"
		}
		f := &assetFile{body: b, url: "/app/assets/" + file, hash: hash, contentType: ct}
		a.byName[name], a.byFile[file] = f, f
		return nil
	})
	return a, err
}

// url is the template function asset: the hashed URL of an embedded file.
// An unknown name is a template bug, caught when the page renders in tests.
func (a *assets) url(name string) (string, error) {
	f, ok := a.byName[name]
	if !ok {
		return "", apperr.New(apperr.Internal, "no asset %q", name)
	}
	return f.url, nil
}

// asset serves GET /app/assets/{file}.
func (h *Handler) asset(w http.ResponseWriter, r *http.Request) error {
	f, ok := h.assets.byFile[r.PathValue("file")]
	if !ok {
		return apperr.New(apperr.NotFound, "no such asset")
	}
	etag := `"` + f.hash + `"`
	hd := w.Header()
	hd.Set("Content-Type", f.contentType)
	hd.Set("Cache-Control", "public, max-age=31536000, immutable")
	hd.Set("ETag", etag)
	if r.Header.Get("If-None-Match") == etag {
		w.WriteHeader(http.StatusNotModified)
		return nil
	}
	_, err := w.Write(f.body)
	return err
}
