package llm

// Realistic knowledge passages used by the extractive tests.
var (
	passShippingEN = Passage{DocumentID: "doc-ship", ChunkID: "c1", Title: "Shipping policy", Score: 0.8, Text: `# Shipping policy

We ship all orders from our warehouse in Zagreb within 1–2 business days.
Standard shipping within Croatia costs €3.99 and takes 1–3 business days. Shipping to EU countries, including Germany and Austria, costs €9.99 and takes 3–5 business days. Orders over €50 ship free within Croatia.
You will receive a tracking number by e-mail as soon as your parcel leaves the warehouse.`}

	passReturnsEN = Passage{DocumentID: "doc-ret", ChunkID: "c1", Title: "Returns and refunds", Score: 0.7, Text: `You can return unused items within 30 days of delivery for a full refund. Items must be returned in their original packaging with the receipt.
To start a return, e-mail support@example.com with your order number. Return shipping is free for customers in Croatia; customers abroad pay the return postage.
Refunds are issued to the original payment method within 5 business days after we receive the return.`}

	passHoursEN = Passage{DocumentID: "doc-hours", ChunkID: "c1", Title: "Opening hours", Score: 0.6, Text: `Opening hours

Our shop in Zagreb (Ilica 42) is open Monday to Friday from 9:00 to 20:00. On Saturdays we are open from 9:00 to 14:00. We are closed on Sundays and public holidays.
Customer support answers the phone (+385 1 234 5678) on weekdays from 8:00 to 16:00.`}

	passShippingHR = Passage{DocumentID: "doc-dostava", ChunkID: "c1", Title: "Dostava", Score: 0.8, Text: `Dostava

Sve narudžbe šaljemo iz skladišta u Zagrebu u roku od 1 do 2 radna dana. Dostava unutar Hrvatske košta 3,99 € i traje 1 do 3 radna dana. Dostava u zemlje EU, uključujući Njemačku i Austriju, košta 9,99 € i traje 3 do 5 radnih dana.
Narudžbe iznad 50 € dostavljamo besplatno na području Hrvatske.`}

	passHoursHR = Passage{DocumentID: "doc-radno", ChunkID: "c1", Title: "Radno vrijeme", Score: 0.7, Text: `Naša trgovina u Zagrebu (Ilica 42) radi od ponedjeljka do petka od 9 do 20 sati. Subotom radimo od 9 do 14 sati. Nedjeljom i praznicima ne radimo.`}

	passReturnsHR = Passage{DocumentID: "doc-povrat", ChunkID: "c1", Title: "Povrat robe", Score: 0.6, Text: `Nekorišteni proizvod možete vratiti u roku od 30 dana od dostave uz puni povrat novca. Proizvod mora biti u originalnoj ambalaži s računom.
Povrat novca isplaćujemo na isti način plaćanja u roku od 5 radnih dana od primitka povrata.`}

	passShippingDE = Passage{DocumentID: "doc-versand", ChunkID: "c1", Title: "Versand", Score: 0.8, Text: `## Versand

Wir versenden alle Bestellungen innerhalb von 1–2 Werktagen aus unserem Lager in Zagreb. Der Versand nach Deutschland und Österreich kostet 9,99 € und dauert 3–5 Werktage. Ab einem Bestellwert von 50 € ist der Versand innerhalb Kroatiens kostenlos.
Sie erhalten eine Sendungsnummer per E-Mail, sobald Ihr Paket das Lager verlässt.`}

	passHoursDE = Passage{DocumentID: "doc-zeiten", ChunkID: "c1", Title: "Öffnungszeiten", Score: 0.7, Text: `Unser Geschäft in Zagreb (Ilica 42) ist Montag bis Freitag von 9:00 bis 20:00 Uhr geöffnet. Samstags haben wir von 9:00 bis 14:00 Uhr geöffnet. An Sonn- und Feiertagen ist geschlossen.`}

	passReturnsDE = Passage{DocumentID: "doc-rueck", ChunkID: "c1", Title: "Rückgabe und Erstattung", Score: 0.6, Text: `Unbenutzte Artikel können Sie innerhalb von 30 Tagen nach Erhalt zurückgeben und erhalten den vollen Kaufpreis erstattet. Die Ware muss originalverpackt sein.
Die Erstattung erfolgt innerhalb von 5 Werktagen nach Eingang der Rücksendung auf das ursprüngliche Zahlungsmittel.`}
)
