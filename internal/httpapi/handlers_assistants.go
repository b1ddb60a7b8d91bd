package httpapi

import (
	"net/http"

	"github.com/metachat/metachat/internal/assistants"
	"github.com/metachat/metachat/internal/auth"
)

func assistantID(v assistants.View) string { return v.ID }

func (s *Server) listAssistants(w http.ResponseWriter, r *http.Request) error {
	pg, err := pageFrom(r)
	if err != nil {
		return err
	}
	out, err := s.assts.List(r.Context(), auth.FromContext(r.Context()), pg)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, newList(pg, out, assistantID))
}

// decodeInto decodes the body strictly onto req, which holds defaults or
// the current settings: fields the body omits keep their values.
func decodeInto(r *http.Request) func(*assistants.Request) error {
	return func(req *assistants.Request) error { return decodeJSON(r, req) }
}

func (s *Server) createAssistant(w http.ResponseWriter, r *http.Request) error {
	v, err := s.assts.Create(r.Context(), auth.FromContext(r.Context()), decodeInto(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusCreated, v)
}

func (s *Server) getAssistant(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := s.assts.Get(r.Context(), auth.FromContext(r.Context()), id)
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) updateAssistant(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	v, err := s.assts.Update(r.Context(), auth.FromContext(r.Context()), id, decodeInto(r))
	if err != nil {
		return err
	}
	return writeJSON(w, http.StatusOK, v)
}

func (s *Server) deleteAssistant(w http.ResponseWriter, r *http.Request) error {
	id, err := pathID(r, "id")
	if err != nil {
		return err
	}
	if err := s.assts.Delete(r.Context(), auth.FromContext(r.Context()), id); err != nil {
		return err
	}
	w.WriteHeader(http.StatusNoContent)
	return nil
}
