package widget

import (
	"strings"
)

// catalogue holds the widget's own interface strings per language. The
// frame falls back to English for any key missing here.
var catalogue = map[string]map[string]string{
	"en": {
		"placeholder":  "Type a message…",
		"send":         "Send",
		"close":        "Close chat",
		"connecting":   "Connecting…",
		"offline":      "Offline — your messages will be sent when you are back online",
		"failed":       "Not sent — tap to retry",
		"agent_joined": "An agent has joined the conversation",
		"resolved":     "This conversation was marked as resolved",
		"refused":      "This chat is not available here",
		"typing":       "Typing…",
		"sources":      "Sources",
		"agent":        "Agent",
	},
	"hr": {
		"placeholder":  "Upišite poruku…",
		"send":         "Pošalji",
		"close":        "Zatvori razgovor",
		"connecting":   "Povezivanje…",
		"offline":      "Niste povezani — poruke će se poslati kad se veza vrati",
		"failed":       "Nije poslano — dodirnite za ponovni pokušaj",
		"agent_joined": "Agent se pridružio razgovoru",
		"resolved":     "Ovaj razgovor je označen kao riješen",
		"refused":      "Ovaj razgovor ovdje nije dostupan",
		"typing":       "Piše…",
		"sources":      "Izvori",
		"agent":        "Agent",
	},
	"de": {
		"placeholder":  "Nachricht eingeben…",
		"send":         "Senden",
		"close":        "Chat schließen",
		"connecting":   "Verbindung wird hergestellt…",
		"offline":      "Offline — Ihre Nachrichten werden gesendet, sobald Sie wieder online sind",
		"failed":       "Nicht gesendet — zum Wiederholen tippen",
		"agent_joined": "Ein Mitarbeiter ist dem Gespräch beigetreten",
		"resolved":     "Dieses Gespräch wurde als gelöst markiert",
		"refused":      "Dieser Chat ist hier nicht verfügbar",
		"typing":       "Schreibt…",
		"sources":      "Quellen",
		"agent":        "Mitarbeiter",
	},
}

// chooseLanguage picks the channel's language, else the first supported
// one the browser asks for (navigator.language or Accept-Language), else
// English.
func chooseLanguage(channelLang, browser, acceptLanguage string) string {
	if _, ok := catalogue[channelLang]; ok {
		return channelLang
	}
	for _, cand := range append([]string{browser}, strings.Split(acceptLanguage, ",")...) {
		tag, _, _ := strings.Cut(strings.TrimSpace(cand), ";")
		base, _, _ := strings.Cut(strings.ToLower(tag), "-")
		if _, ok := catalogue[base]; ok {
			return base
		}
	}
	return "en"
}
