package org.clipsurgery.models;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertSame;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import java.net.URI;
import java.util.List;

import org.junit.jupiter.api.Test;

class ModelRegistryTest {

    private final ModelRegistry reg = ModelRegistry.official();

    @Test
    void officialNamesInPublishedOrder() {
        assertEquals(List.of("RN50", "RN101", "RN50x4", "RN50x16", "RN50x64", "ViT-B/32", "ViT-B/16",
                "ViT-L/14", "ViT-L/14@336px"), reg.names());
    }

    @Test
    void entriesCarryUrlFileNameAndTheShaFromTheUrl() {
        ModelRegistry.Entry e = reg.get("ViT-L/14@336px");
        assertEquals(URI.create("https://openaipublic.azureedge.net/clip/models/"
                + "3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02/ViT-L-14-336px.pt"), e.url());
        assertEquals("3035c92b350959924f9f00213499208652fc7ea050643e8b385c2dac08641f02", e.sha256());
        assertEquals("ViT-L-14-336px.pt", e.fileName());
        for (ModelRegistry.Entry x : reg.entries()) {
            String[] parts = x.url().getPath().split("/");
            assertEquals(parts[parts.length - 2], x.sha256(), x.name());
            assertEquals(x.name().replace('/', '-').replace("@", "-"), x.fileName().replace(".pt", ""), x.name());
        }
    }

    @Test
    void surgeryPrefixIsAnAlias() {
        assertSame(reg.get("ViT-B/16"), reg.get("CS-ViT-B/16"));
        assertEquals("RN50x4", reg.find("CS-RN50x4").orElseThrow().name());
        assertTrue(reg.find("CS-CS-RN50").isEmpty());
        assertTrue(reg.find("vit-b/16").isEmpty(), "names are matched exactly, as OpenAI's are");
        assertTrue(reg.find(null).isEmpty());
    }

    @Test
    void unknownNameListsTheAvailableOnes() {
        IllegalArgumentException e = assertThrows(IllegalArgumentException.class, () -> reg.get("ViT-H/14"));
        assertTrue(e.getMessage().contains("ViT-H/14"), e.getMessage());
        for (String n : reg.names()) {
            assertTrue(e.getMessage().contains(n), e.getMessage());
        }
    }

    @Test
    void badEntriesAreRejected() {
        assertThrows(IllegalArgumentException.class,
                () -> ModelRegistry.Entry.fromUrl("x", "https://h/models/not-a-sha/x.pt"));
        assertThrows(IllegalArgumentException.class,
                () -> ModelRegistry.Entry.fromUrl("x", "ftp://h/" + "a".repeat(64) + "/x.pt"));
        assertThrows(IllegalArgumentException.class,
                () -> ModelRegistry.Entry.fromUrl("x", "https://h/" + "a".repeat(64) + "/"));
        assertThrows(IllegalArgumentException.class,
                () -> ModelRegistry.Entry.fromUrl("x", "https://h/" + "a".repeat(64) + "/.."));
        ModelRegistry.Entry ok = ModelRegistry.Entry.fromUrl("x", "https://h/" + "A".repeat(64) + "/x.pt");
        assertEquals("a".repeat(64), ok.sha256());
        assertThrows(IllegalArgumentException.class, () -> ModelRegistry.of(List.of(ok, ok)));
    }
}
