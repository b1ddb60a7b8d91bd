package httpapi

import (
	"io"
	"mime"
	"net/http"
	"strconv"
	"strings"

	"github.com/metachat/metachat/internal/apperr"
	"github.com/metachat/metachat/internal/auth"
	"github.com/metachat/metachat/internal/knowledge"
	"github.com/metachat/metachat/internal/store"
)

func documentID(v knowledge.View) string { return v.ID }

// uploadLimit is the request size a document route accepts: the largest
// document plus room for the multipart envelope.
func (s *Server) uploadLimit() int64 { return s.kb.MaxUploadBytes() + 64<<10 }

// documentBody reads a new document from a multipart upload (field
// "file", optional "title" and "tags") or a JSON body ({title, text} or
// {url, crawl, max_pages}; both with optional tags).
func (s *Server) documentBody(r *http.Request) (knowledge.New, error) {
	mt, params, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if mt != "multipart/form-data" {
		var req struct {
			Title    string   `json:"title"`
			Text     *string  `json:"text"`
			URL      string   `json:"url"`
			Crawl    bool     `json:"crawl"`
			MaxPages int      `json:"max_pages"`
			Tags     []string `json:"tags"`
		}
		if err := decodeJSON(r, &req); err != nil {
			return knowledge.New{}, err
		}
		n := knowledge.New{Title: req.Title, Tags: req.Tags, URL: req.URL, Crawl: req.Crawl, MaxPages: req.MaxPages}
		if req.Text != nil {
			n.Text, n.TextSet = *req.Text, true
		}
		return n, nil
	}
	if params["boundary"] == "" {
		return knowledge.New{}, apperr.Field("body", "multipart body without a boundary")
	}
	mr, err := r.MultipartReader()
	if err != nil {
		return knowledge.New{}, apperr.Field("body", "is not a multipart form")
	}
	var n knowledge.New
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return knowledge.New{}, bodyReadError(err, "file")
		}
		switch part.FormName() {
		case "file":
			if n.Data != nil {
				return knowledge.New{}, apperr.Field("file", "send one file per request")
			}
			data, err := io.ReadAll(io.LimitReader(part, s.kb.MaxUploadBytes()+1))
			if err != nil {
				return knowledge.New{}, bodyReadError(err, "file")
			}
			if data == nil {
				data = []byte{}
			}
			n.Data, n.Filename, n.ContentType = data, part.FileName(), part.Header.Get("Content-Type")
		case "title", "tags":
			v, err := io.ReadAll(io.LimitReader(part, 4<<10))
			if err != nil {
				return knowledge.New{}, bodyReadError(err, "file")
			}
			if part.FormName() == "title" {
				n.Title = string(v)
			} else {
				for _, t := range strings.Split(string(v), ",") {
					if t = strings.TrimSpace(t); t != "" {
						n.Tags = append(n.Tags, t)
					}
				}
			}
		default:
			return knowledge.New{}, apperr.Field(part.FormName(), "is not a field of a document upload (file, title, tags)")
		}
	}
	if n.Data == nil {
		return knowledge.New{}, apperr.Field("file", "is required in a multipart upload")
	}
	return n, nil
}

func (s *Server) createDocument(w http.ResponseWriter, r *http.Request) error {
	n, err := s.documentBody(r)
	if err != nil {
		return err
	}
	v, err := s.kb.Create(r.Context(), auth.FromContext(r.Context()), n)
	if err != nil {
		return err
	}
	w.Header().Set("Location", "/api/v1/documents/"+v.ID)
	return writeJSON(w, http.StatusAccepted, v)
}

func (s *Server) replaceDocument(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	n, err := s.documentBody(r)
	if err != nil {
		return err
	}
	v, err := s.kb.Replace(r.Context(), auth.FromContext(r.Context()), id, n)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, v)
}

func (s *Server) listDocuments(w http.ResponseWriter, r *http.Request) error {
	pg, err := pageFrom(r)
	if err != nil {
		return err
	}
	q := r.URL.Query()
	f := store.DocumentFilter{Status: q.Get("status"), Tag: q.Get("tag")}
	switch f.Status {
	case "", "queued", "processing", "ready", "failed":
	default:
		return apperr.Field("status", "must be queued, processing, ready or failed")
	}
	if f.Tag != "" {
		if _, err := knowledge.CheckTags("tag", []string{f.Tag}); err != nil {
			return err
		}
	}
	out, err := s.kb.List(r.Context(), auth.FromContext(r.Context()), f, pg)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(pg, out, documentID))
}

func (s *Server) getDocument(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := s.kb.Get(r.Context(), auth.FromContext(r.Context()), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) deleteDocument(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.kb.Delete(r.Context(), auth.FromContext(r.Context()), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}

func (s *Server) reindexDocument(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := s.kb.Reindex(r.Context(), auth.FromContext(r.Context()), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusAccepted, v)
}

func (s *Server) listChunks(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	q := r.URL.Query()
	after, limit := -1, 50
	if v := q.Get("after"); v != "" {
		if after, err = strconv.Atoi(v); err != nil || after < -1 {
			return apperr.Field("after", "must be a chunk position")
		}
	}
	if v := q.Get("limit"); v != "" {
		if limit, err = strconv.Atoi(v); err != nil || limit < 1 || limit > store.MaxPageSize {
			return apperr.Field("limit", "must be between 1 and 200")
		}
	}
	out, err := s.kb.Chunks(r.Context(), auth.FromContext(r.Context()), id, after, limit)
	if err != nil {
		return err
	}
	answer := map[string]any{"items": out, "next_after": nil}
	if len(out) == limit {
		answer["next_after"] = out[len(out)-1].Position
	}
	return writeJSON(w, http.StatusOK, answer)
}

func (s *Server) search(w http.ResponseWriter, r *http.Request) error {
	var req knowledge.SearchRequest
	if err := decodeJSON(r, &req); err != nil {
		return err
	}
	out, err := s.kb.Search(r.Context(), auth.FromContext(r.Context()), req)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, map[string]any{"results": out})
}
